/**
 * Invalidations over Redis pub/sub: the cache projector publishes the keys whose projection it changed, once Redis
 * has acknowledged the writes; every read API process listens and drops those keys from its in-process cache
 * (`l1-cache.ts`). Redis itself needs no message (it holds the new state already).
 *
 * Pub/sub is at most once: a message sent while a listener is disconnected is lost for it. So the listener reports
 * every interruption of its connection (`onReset`: drop, error, and again once it is subscribed anew), and the
 * caller clears its whole L1, which then cannot hold anything older than the interruption. What remains is a message
 * lost without any interruption (a projector that failed to publish), bounded by the L1's TTL.
 */
import type { Cluster, Redis } from 'ioredis';
import type { WriteBatch } from './scripts.ts';

export const invalidationChannel = (prefix: string) => `${prefix}cache:invalidate`;

/** One PUBLISH with the keys newline-joined (keys never contain a newline); nothing when there are none. */
export async function publishInvalidations(redis: Redis | Cluster, prefix: string, keys: string[]): Promise<void> {
  if (keys.length === 0) return;
  await redis.publish(invalidationChannel(prefix), [...new Set(keys)].join('\n'));
}

export interface InvalidationHandlers {
  /** keys that changed: drop them */
  onKeys(keys: string[]): void;
  /** messages may have been lost: drop everything */
  onReset(reason: string): void;
}

export interface InvalidationListenerOptions {
  /** the subscriber's CLIENT SETNAME, to find it in CLIENT LIST; default `<prefix>cache-invalidation-listener` */
  connectionName?: string;
  /**
   * A PING this often (0: never); a connection that does not answer within the same time is dropped and made
   * anew, so a silently dead one (no FIN, no RST) is noticed; default 5_000.
   */
  pingIntervalMs?: number;
}

export class InvalidationListener {
  readonly #redis: Redis;
  readonly #channel: string;
  readonly #handlers: InvalidationHandlers;
  readonly #connectionName: string;
  readonly #pingIntervalMs: number;
  #subscriber: Redis | undefined;
  #pinger: NodeJS.Timeout | undefined;
  #stopping = false;

  constructor(redis: Redis, prefix: string, handlers: InvalidationHandlers, options: InvalidationListenerOptions = {}) {
    this.#redis = redis;
    this.#channel = invalidationChannel(prefix);
    this.#handlers = handlers;
    this.#connectionName = options.connectionName ?? `${prefix}cache-invalidation-listener`;
    this.#pingIntervalMs = options.pingIntervalMs ?? 5_000;
  }

  /** Resolves once subscribed: invalidations published from then on reach `onKeys`. */
  async start(): Promise<void> {
    if (this.#subscriber) throw new Error('InvalidationListener already started');
    this.#stopping = false;
    // resubscribed by hand (below), so that onReset comes only once the subscription is back
    const sub = this.#redis.duplicate({
      connectionName: this.#connectionName,
      autoResubscribe: false,
      lazyConnect: true,
    });
    this.#subscriber = sub;
    const reset = (reason: string) => {
      if (!this.#stopping) this.#handlers.onReset(reason);
    };
    sub.on('message', (channel: string, message: string) => {
      if (channel === this.#channel) this.#handlers.onKeys(message.split('\n').filter((k) => k !== ''));
    });
    sub.on('error', (err: Error) => reset(`subscriber error: ${err.message}`));
    sub.on('close', () => reset('subscriber connection closed'));
    try {
      await sub.connect();
      await sub.subscribe(this.#channel);
    } catch (err) {
      this.#subscriber = undefined;
      this.#stopping = true;
      sub.disconnect();
      throw err;
    }
    // a reconnected connection is a new one, not subscribed: subscribe, then flush what arrived in between
    sub.on('ready', () => {
      sub.subscribe(this.#channel).then(
        () => reset('subscriber reconnected'),
        (err: unknown) => {
          reset(`resubscribe failed: ${err instanceof Error ? err.message : String(err)}`);
          sub.disconnect(true);
        },
      );
    });
    if (this.#pingIntervalMs > 0) this.#startPinging(sub);
  }

  /** Closes the subscriber (no QUIT: a dead connection would never answer it); no onReset after this. */
  stop(): Promise<void> {
    const sub = this.#subscriber;
    this.#subscriber = undefined;
    this.#stopping = true;
    clearInterval(this.#pinger);
    sub?.disconnect();
    return Promise.resolve();
  }

  #startPinging(sub: Redis) {
    let outstanding = false;
    this.#pinger = setInterval(() => {
      if (sub.status !== 'ready') return;
      if (outstanding) {
        // the last PING got no answer in a whole interval: treat the connection as dead
        outstanding = false;
        sub.disconnect(true);
        return;
      }
      outstanding = true;
      sub.ping().then(
        () => (outstanding = false),
        () => (outstanding = false), // a failed PING comes with a close, which resets
      );
    }, this.#pingIntervalMs);
    this.#pinger.unref();
  }
}

/** A write batch that also records, in queue order, the keys each queued write touches. */
export type KeyRecordingBatch = WriteBatch & { readonly queuedKeys: readonly (readonly string[])[] };

/** Wraps a batch of projection writes (`writeBatch`) so that `changedKeys` can tell which keys changed. */
export function recordingKeys(batch: WriteBatch): KeyRecordingBatch {
  const queuedKeys: string[][] = [];
  const record = (keys: string[], queued: unknown) => {
    queuedKeys.push(keys);
    return queued;
  };
  return {
    queuedKeys,
    putPart: (key, ...rest) => record([key], batch.putPart(key, ...rest)),
    deleteDocument: (key, ...rest) => record([key], batch.deleteDocument(key, ...rest)),
    removePart: (key, ...rest) => record([key], batch.removePart(key, ...rest)),
    setMember: (key, ...rest) => record([key], batch.setMember(key, ...rest)),
    addMessage: (recent, bodies, ...rest) => record([recent, bodies], batch.addMessage(recent, bodies, ...rest)),
    deleteMessage: (recent, bodies, ...rest) => record([recent, bodies], batch.deleteMessage(recent, bodies, ...rest)),
    rankPut: (list, bodies, lease, ...rest) => record([list, bodies], batch.rankPut(list, bodies, lease, ...rest)),
    rankDelete: (list, bodies, lease, id) => record([list, bodies], batch.rankDelete(list, bodies, lease, id)),
    hdel: (key, ...fields) => record([key], batch.hdel(key, ...fields)),
    exec: () => batch.exec(),
  };
}

/**
 * The keys of the writes that changed something, given the batch's results in queue order: a script answers 1 when
 * it wrote, HDEL the number of fields it removed; a write that failed or was refused as older changed nothing.
 */
export function changedKeys(queuedKeys: readonly (readonly string[])[], results: [Error | null, unknown][]): string[] {
  const changed = new Set<string>();
  queuedKeys.forEach((keys, i) => {
    const [err, value] = results[i] ?? [null, 0];
    if (!err && ((typeof value === 'number' && value > 0) || value === 'OK')) for (const k of keys) changed.add(k);
  });
  return [...changed];
}
