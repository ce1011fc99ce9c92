/**
 * One request's view of where to read: who asks, the Commit-LSN it carries (its own write it must see), and the
 * database chosen for it, at most once and only when something has to be read from the database.
 */
import type { Queryable } from '@bgc/queries/query';
import type { Routing, Target } from './db.ts';

/** What the `Cache` answer header says about the resource: l1, hit (Redis), miss (filled), bypass (not asked). */
export type CacheStatus = 'l1' | 'hit' | 'miss' | 'bypass';

export class ReadContext {
  readonly viewerId: string;
  /** the request's Commit-LSN: a write it must see */
  readonly minLsn: bigint | undefined;
  /** the database the request read, once it has */
  target: Target | undefined;
  cache: CacheStatus | undefined;
  readonly #routing: Routing;
  readonly #forcePrimary: boolean;
  #db: Promise<Queryable> | undefined;

  constructor(routing: Routing, viewerId: string, minLsn: bigint | undefined, forcePrimary: boolean) {
    this.#routing = routing;
    this.viewerId = viewerId;
    this.minLsn = minLsn;
    this.#forcePrimary = forcePrimary;
  }

  /**
   * The request must see its own write: caches that the write API does not write through (cache-aside entries, the
   * projector's lists, the L1) may not have it yet and are not asked.
   */
  get fresh(): boolean {
    return this.minLsn !== undefined;
  }

  db(): Promise<Queryable> {
    this.#db ??= this.#routing.choose(this.minLsn, this.#forcePrimary).then(({ target, db }) => {
      this.target = target;
      return db;
    });
    return this.#db;
  }
}
