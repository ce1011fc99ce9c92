/**
 * Where the replica's replay stands, known cheaply and shared by every request: a background sample each
 * `pollMs` (also the lag metrics), and while any request waits for a Commit-LSN the replica has not replayed, a
 * quick loop of one query at a time whose answer every waiter shares. A request whose LSN the last sample already
 * covers costs no query at all.
 */
import type pg from 'pg';
import { lsnToBigInt } from '@bgc/events/envelope';
import type { Metrics } from './metrics.ts';

interface Waiter {
  lsn: bigint;
  resolve: (replayed: boolean) => void;
  timer: NodeJS.Timeout;
}

/** How often the loop asks while requests wait: a few round trips per wait, not a busy loop. */
const WAIT_POLL_MS = 5;

export class ReplicaPosition {
  readonly #replica: pg.Pool;
  readonly #primary: pg.Pool;
  readonly #metrics: Metrics;
  readonly #waiters = new Set<Waiter>();
  #replayed = -1n;
  #looping = false;
  #sampler: NodeJS.Timeout | undefined;
  #onError: (err: unknown) => void;

  constructor(replica: pg.Pool, primary: pg.Pool, metrics: Metrics, onError: (err: unknown) => void) {
    this.#replica = replica;
    this.#primary = primary;
    this.#metrics = metrics;
    this.#onError = onError;
  }

  /** Samples lag every `pollMs` until stop(). */
  start(pollMs: number): void {
    const sample = () => {
      this.#sampleLag().catch(this.#onError);
    };
    sample();
    this.#sampler = setInterval(sample, pollMs);
    this.#sampler.unref();
  }

  stop(): void {
    clearInterval(this.#sampler);
    for (const w of this.#waiters) this.#settle(w, false);
  }

  /** The last replay position seen (-1 before the first answer). */
  get replayed(): bigint {
    return this.#replayed;
  }

  /** Resolves true once the replica has replayed `lsn`, false when `timeoutMs` passes first. */
  waitFor(lsn: bigint, timeoutMs: number): Promise<boolean> {
    if (this.#replayed >= lsn) return Promise.resolve(true);
    if (timeoutMs <= 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = { lsn, resolve, timer: setTimeout(() => this.#settle(waiter, false), timeoutMs) };
      this.#waiters.add(waiter);
      if (!this.#looping) void this.#loop();
    });
  }

  #settle(w: Waiter, replayed: boolean) {
    if (!this.#waiters.delete(w)) return;
    clearTimeout(w.timer);
    w.resolve(replayed);
  }

  #advance(replayed: bigint) {
    if (replayed > this.#replayed) this.#replayed = replayed;
    for (const w of this.#waiters) if (this.#replayed >= w.lsn) this.#settle(w, true);
  }

  async #loop() {
    this.#looping = true;
    try {
      while (this.#waiters.size > 0) {
        try {
          const { rows } = await this.#replica.query<{ lsn: string | null }>(
            'SELECT pg_last_wal_replay_lsn()::text AS lsn',
          );
          if (rows[0]?.lsn) this.#advance(lsnToBigInt(rows[0].lsn));
        } catch (err) {
          this.#onError(err); // the waiters time out and read the primary
        }
        if (this.#waiters.size > 0) await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
      }
    } finally {
      this.#looping = false;
    }
  }

  async #sampleLag() {
    // the primary first: a replay position read after it can only be closer, so the lag is never overstated
    const primary = await this.#primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    const { rows } = await this.#replica.query<{ replay: string | null; receive: string | null; seconds: number }>(
      `SELECT pg_last_wal_replay_lsn()::text AS replay, pg_last_wal_receive_lsn()::text AS receive,
              CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                   ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8 AS seconds`,
    );
    const row = rows[0];
    const current = primary.rows[0]?.lsn;
    if (!row?.replay || !current) return;
    const replayed = lsnToBigInt(row.replay);
    this.#advance(replayed);
    const behind = lsnToBigInt(current) - replayed;
    this.#metrics.replicaLagBytes.set(Number(behind > 0n ? behind : 0n));
    this.#metrics.replicaLagSeconds.set(Math.max(0, row.seconds));
  }
}
