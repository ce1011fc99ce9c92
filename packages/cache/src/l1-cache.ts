/**
 * The in-process level in front of Redis: bounded by entries and by (estimated) bytes, evicting the least recently
 * used, each entry living at most `ttlMs`. A hit costs no round trip, so it is also the level that can be stale
 * without Redis knowing: it is kept honest by the invalidation channel (`invalidation.ts`: drop the keys it names,
 * clear everything when the channel was interrupted) and bounded by the short TTL when a message is lost.
 *
 * Values are shared between callers as they are: treat them as immutable.
 *
 * A fill races with invalidations: a reader that got an old value from Redis may get to store it after the message
 * that invalidates it was handled, and the old value would then sit here until its TTL. `reserve()` before the read
 * and `fill()` after it close that gap: `delete(key)` and `clear()` cancel the reservations they cover, and a
 * cancelled fill stores nothing (the in-process counterpart of the Redis lease in `cache-aside.ts`).
 */
import { LRUCache } from 'lru-cache';

export interface L1CacheOptions {
  maxEntries: number;
  /** bound on the sum of the sizes given to `set` */
  maxBytes: number;
  /** the longest an entry is served; `set` may give a shorter one */
  ttlMs: number;
}

export class L1Cache {
  readonly #lru: LRUCache<string, NonNullable<unknown>>;
  readonly #reservations = new Map<string, number>();
  #nextReservation = 0;

  constructor(options: L1CacheOptions) {
    for (const [name, value] of Object.entries(options)) {
      if (!Number.isSafeInteger(value) || value <= 0)
        throw new RangeError(`L1Cache ${name} must be a positive integer`);
    }
    this.#lru = new LRUCache({ max: options.maxEntries, maxSize: options.maxBytes, ttl: options.ttlMs });
  }

  get(key: string): unknown {
    return this.#lru.get(key);
  }

  /**
   * Stores `value` (not undefined or null) counting `bytes` against `maxBytes`; a value larger than `maxBytes` is
   * not kept. `ttlMs` shortens the entry's life below the cache's TTL (a negative entry, say).
   */
  set(key: string, value: unknown, bytes: number, ttlMs?: number): void {
    if (value === undefined || value === null) throw new TypeError('L1Cache cannot hold undefined or null');
    const size = Math.max(1, Math.ceil(bytes));
    this.#lru.set(key, value, ttlMs === undefined ? { size } : { size, ttl: Math.max(1, Math.ceil(ttlMs)) });
  }

  delete(key: string): void {
    this.#lru.delete(key);
    this.#reservations.delete(key);
  }

  clear(): void {
    this.#lru.clear();
    this.#reservations.clear();
  }

  /** Call before reading what will be stored under `key`; pass the result to `fill` (or `release`). */
  reserve(key: string): number {
    const reservation = ++this.#nextReservation;
    this.#reservations.set(key, reservation);
    return reservation;
  }

  /** Stores the value only if neither `delete(key)` nor `clear()` (nor a newer reservation) came since `reserve`. */
  fill(key: string, reservation: number, value: unknown, bytes: number, ttlMs?: number): boolean {
    if (this.#reservations.get(key) !== reservation) return false;
    this.#reservations.delete(key);
    this.set(key, value, bytes, ttlMs);
    return true;
  }

  /** Gives up a reservation that will not be filled (the read failed). */
  release(key: string, reservation: number): void {
    if (this.#reservations.get(key) === reservation) this.#reservations.delete(key);
  }

  /** entries held */
  get size(): number {
    return this.#lru.size;
  }

  /** sum of the sizes of the entries held */
  get bytes(): number {
    return this.#lru.calculatedSize;
  }
}
