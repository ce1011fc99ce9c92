/**
 * A bounded, ordered hand-off from a push source (the replication library's events) to a pull loop
 * (`for await … of channel.batches()`). `push` makes the library wait while the channel is full, and the library
 * awaits our handler before it reads the socket again, so a slow Kafka slows the WAL sender instead of filling
 * memory. The reader takes everything queued at once: a promise per batch rather than several per message, which
 * showed in the profile at full speed.
 */
export class Channel<T> {
  #items: T[] = [];
  readonly #capacity: number;
  #closed = false;
  #failure: { error: unknown } | undefined;
  #wakeReader: (() => void) | undefined;
  #wakeWriters: (() => void)[] = [];

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Queues an item; returns a promise to wait for only while the channel is full (no promise per item). */
  push(item: T): Promise<void> | undefined {
    if (this.#items.length >= this.#capacity && !this.#closed) return this.#pushWhenRoom(item);
    if (this.#closed) return undefined;
    this.#items.push(item);
    this.#wake();
    return undefined;
  }

  async #pushWhenRoom(item: T): Promise<void> {
    while (this.#items.length >= this.#capacity && !this.#closed) {
      await new Promise<void>((resolve) => this.#wakeWriters.push(resolve));
    }
    if (this.#closed) return;
    this.#items.push(item);
    this.#wake();
  }

  /** Set once `fail` was called: a reader in the middle of a batch stops there. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** Ends the iteration after the items already pushed. */
  close(): void {
    this.#closed = true;
    this.#wake();
    this.#releaseWriters();
  }

  /** Ends the iteration at once with this error. */
  fail(error: unknown): void {
    this.#failure ??= { error };
    this.close();
  }

  #wake() {
    const wake = this.#wakeReader;
    this.#wakeReader = undefined;
    wake?.();
  }

  #releaseWriters() {
    const writers = this.#wakeWriters;
    this.#wakeWriters = [];
    writers.forEach((w) => w());
  }

  /** The items in order, as arrays of everything queued since the last one; throws once `fail` was called. */
  async *batches(): AsyncGenerator<T[]> {
    for (;;) {
      if (this.#failure) throw this.#failure.error;
      if (this.#items.length > 0) {
        const items = this.#items;
        this.#items = [];
        this.#releaseWriters();
        yield items;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => (this.#wakeReader = resolve));
    }
  }
}
