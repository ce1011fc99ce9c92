/**
 * A bounded, ordered hand-off from a push source (the replication library's events) to a pull loop
 * (`for await`). `push` waits while the channel is full, and the library awaits our handler before it reads the
 * socket again, so a slow Kafka slows the WAL sender instead of filling memory.
 */
export class Channel<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  readonly #capacity: number;
  #closed = false;
  #failure: { error: unknown } | undefined;
  #wakeReader: (() => void) | undefined;
  #wakeWriters: (() => void)[] = [];

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  async push(item: T): Promise<void> {
    while (this.#items.length >= this.#capacity && !this.#closed) {
      await new Promise<void>((resolve) => this.#wakeWriters.push(resolve));
    }
    if (this.#closed) return;
    this.#items.push(item);
    this.#wake();
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

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.#failure) throw this.#failure.error;
      const item = this.#items.shift();
      if (item !== undefined) {
        this.#releaseWriters();
        yield item;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => (this.#wakeReader = resolve));
    }
  }
}
