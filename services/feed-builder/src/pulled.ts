/**
 * The pulled authors: those with more followers than the threshold when they posted. Their posts are not fanned
 * out but kept in a list of their own and merged into their audience's feeds at read time (the hybrid of Twitter's
 * timelines). The registry is a hash in the store Redis (author → when), read once at start and added to as
 * authors cross the threshold. An author stays pulled: going back would mean fanning out every post made meanwhile.
 */
import type { Redis } from 'ioredis';
import type { FeedKeyspace } from '@bgc/cache/feed-keys';

export class PulledAuthors {
  readonly #store: Redis;
  readonly #keys: FeedKeyspace;
  readonly #known = new Set<string>();

  constructor(store: Redis, keys: FeedKeyspace) {
    this.#store = store;
    this.#keys = keys;
  }

  async load(): Promise<void> {
    for (const id of await this.#store.hkeys(this.#keys.pulledAuthors())) this.#known.add(id);
  }

  has(authorId: string): boolean {
    return this.#known.has(authorId);
  }

  get size(): number {
    return this.#known.size;
  }

  all(): string[] {
    return [...this.#known];
  }

  /** Records the author as pulled; true when this call did (another builder may have first). */
  async register(authorId: string): Promise<boolean> {
    this.#known.add(authorId);
    return (await this.#store.hsetnx(this.#keys.pulledAuthors(), authorId, String(Date.now()))) === 1;
  }
}
