/**
 * Sends records to Kafka in the order they came from the WAL, and says which transactions are durable.
 *
 * Records collect in a batch; a batch goes when it reaches `batchBytes` or `lingerMs` after a transaction ended in
 * it. Batches are chained: each is sent only after the one before it was acknowledged by every in-sync replica
 * (idempotent producer, acks=-1), so Kafka receives them in WAL order and per-key order holds across retries. A
 * transaction is durable once the batch holding its last record is acknowledged, and then so is every earlier one:
 * `onDurable` gets the transactions' commit-end LSNs in commit order, the watermark the caller acknowledges to
 * Postgres. After a failed batch nothing later is sent and nothing more becomes durable; the caller restarts from the
 * slot, which re-delivers from the last acknowledged commit.
 */
import type { Message, Producer, TopicMessages } from 'kafkajs';

export interface Durable<M> {
  marks: M[];
}

interface Batch<M> {
  topics: Map<string, Message[]>;
  bytes: number;
  records: number;
  marks: M[];
}

const emptyBatch = <M>(): Batch<M> => ({ topics: new Map(), bytes: 0, records: 0, marks: [] });

export class OrderedPublisher<M> {
  readonly #producer: Producer;
  readonly #opts: { batchBytes: number; lingerMs: number; sendTimeoutMs: number };
  readonly #onDurable: (marks: M[]) => void;
  readonly #onFailure: (error: unknown) => void;
  #batch: Batch<M> = emptyBatch();
  /** resolves when every batch taken so far has been sent (or skipped after a failure) */
  #tail: Promise<void> = Promise.resolve();
  /** per batch taken and not yet sent, oldest first: resolves when that batch is sent */
  readonly #queued: Promise<void>[] = [];
  #unsent = 0;
  #inFlightBytes = 0;
  #failure: { error: unknown } | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    producer: Producer,
    opts: { batchBytes: number; lingerMs: number; sendTimeoutMs: number },
    onDurable: (marks: M[]) => void,
    /** told at once: an idle stream (only heartbeats) would otherwise not notice until its next record */
    onFailure: (error: unknown) => void,
  ) {
    this.#producer = producer;
    this.#onFailure = onFailure;
    this.#opts = opts;
    this.#onDurable = onDurable;
  }

  /** Bytes taken but not yet acknowledged by Kafka. */
  get inFlightBytes(): number {
    return this.#inFlightBytes + this.#batch.bytes;
  }

  get failure(): unknown {
    return this.#failure?.error;
  }

  /**
   * Adds a record. Returns a promise to wait for while a full batch is queued behind the one in flight
   * (backpressure), and nothing otherwise: no promise per record (this is called for every event).
   */
  push(topic: string, message: Message): Promise<void> | undefined {
    this.#throwIfFailed();
    const list = this.#batch.topics.get(topic);
    if (list) list.push(message);
    else this.#batch.topics.set(topic, [message]);
    this.#batch.bytes += message.key ? message.key.length : 0;
    this.#batch.bytes += message.value ? message.value.length : 0;
    this.#batch.records += 1;
    if (this.#batch.bytes >= this.#opts.batchBytes) {
      void this.#take();
      // one batch in flight and one waiting is enough to keep Kafka busy; beyond that, stop reading the WAL until
      // the oldest is sent (not until all are: the wait then emptied the queue, and Kafka idled while the loop
      // filled the next batch)
      if (this.#unsent > 2) return this.#queued[0];
    }
    return undefined;
  }

  /** Marks a point (a committed transaction): durable once everything pushed before it is. */
  mark(mark: M): void {
    this.#throwIfFailed();
    this.#batch.marks.push(mark);
    this.#timer ??= setTimeout(() => void this.#take(), this.#opts.lingerMs);
  }

  /** Sends what is pending and waits for every batch; throws if one failed. */
  async drain(): Promise<void> {
    await this.#take();
    this.#throwIfFailed();
  }

  #throwIfFailed() {
    if (this.#failure) throw this.#failure.error as Error;
  }

  /** Queues the current batch behind the ones taken before; resolves when it is sent. */
  #take(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#batch;
    if (batch.records === 0 && batch.marks.length === 0) return this.#tail;
    this.#batch = emptyBatch();
    this.#unsent += 1;
    this.#inFlightBytes += batch.bytes;
    this.#tail = this.#tail.then(() => this.#send(batch));
    this.#queued.push(this.#tail);
    return this.#tail;
  }

  async #send(batch: Batch<M>): Promise<void> {
    try {
      if (this.#failure) return; // never send past a gap
      if (batch.records > 0) {
        const topicMessages: TopicMessages[] = [...batch.topics].map(([topic, messages]) => ({ topic, messages }));
        // a send that neither succeeds nor fails (a client stuck on a broker that went away) fails the batch:
        // the stream restarts with a new producer from the slot, which still holds everything not acknowledged
        let timer: NodeJS.Timeout | undefined;
        const stuck = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`Kafka did not answer a batch in ${this.#opts.sendTimeoutMs} ms`)),
            this.#opts.sendTimeoutMs,
          );
        });
        await Promise.race([this.#producer.sendBatch({ topicMessages, acks: -1 }), stuck]).finally(() =>
          clearTimeout(timer),
        );
      }
      // durable in Kafka: only now may these transactions be acknowledged to Postgres
      if (batch.marks.length > 0) this.#onDurable(batch.marks);
    } catch (error) {
      this.#failure = { error };
      this.#onFailure(error);
    } finally {
      this.#unsent -= 1;
      this.#inFlightBytes -= batch.bytes;
      void this.#queued.shift(); // this batch's (sends run one at a time, in order)
    }
  }
}
