/**
 * The two databases a read can go to, both as the reader role: the streaming replica (every read by default) and
 * the primary (a read that must see a write the replica has not replayed within the wait). Sessions run in UTC so
 * that timestamps rendered as text (the documents a fill writes to Redis) read as the CDC events do.
 */
import pg from 'pg';
import type { Queryable } from '@bgc/queries/query';
import type { Metrics } from './metrics.ts';
import type { ReplicaPosition } from './replica-position.ts';

export type Target = 'replica' | 'primary';

export function createPool(opts: { url: string; max: number; acquireTimeoutMs: number; applicationName: string }) {
  return new pg.Pool({
    connectionString: opts.url,
    max: opts.max,
    // without it a request would wait forever for a connection when the pool is exhausted
    connectionTimeoutMillis: opts.acquireTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: opts.applicationName,
    options: '-c TimeZone=UTC',
  });
}

export interface Routing {
  /** the database for a request that carries `minLsn` (a Commit-LSN) or none */
  choose(minLsn: bigint | undefined, forcePrimary: boolean): Promise<{ target: Target; db: Queryable }>;
}

export class DbRouter implements Routing {
  readonly #pools: Record<Target, pg.Pool>;
  readonly #position: ReplicaPosition;
  readonly #metrics: Metrics;
  readonly #lsnWaitMs: number;

  constructor(pools: Record<Target, pg.Pool>, position: ReplicaPosition, metrics: Metrics, lsnWaitMs: number) {
    this.#pools = pools;
    this.#position = position;
    this.#metrics = metrics;
    this.#lsnWaitMs = lsnWaitMs;
  }

  get pools(): Record<Target, pg.Pool> {
    return this.#pools;
  }

  async choose(minLsn: bigint | undefined, forcePrimary: boolean): Promise<{ target: Target; db: Queryable }> {
    if (forcePrimary) return this.#use('primary', 'flag');
    if (minLsn === undefined) return this.#use('replica', 'default');
    const started = performance.now();
    const replayed = await this.#position.waitFor(minLsn, this.#lsnWaitMs);
    const target: Target = replayed ? 'replica' : 'primary';
    this.#metrics.lsnWaits.observe({ target }, (performance.now() - started) / 1000);
    return this.#use(target, replayed ? 'lsn_replayed' : 'lsn_not_replayed');
  }

  #use(target: Target, reason: string) {
    this.#metrics.dbReads.inc({ target, reason });
    return { target, db: this.#pools[target] };
  }
}
