/**
 * The replica as the builder reads it: every decision (who sees a post, what a follow brings) is read from the
 * database after the replica has replayed the event's commit, so it reflects that event and anything newer; never
 * an older state than the event's. A rebuild's sequence is the replay position read before its snapshot.
 */
import type pg from 'pg';
import { lsnToBigInt } from '@bgc/events/envelope';

/** The replica did not replay a commit in time; the chunk is read again. */
export class ReplicaBehind extends Error {
  readonly code = 'REPLICA_BEHIND';
  readonly wanted: bigint;
  readonly replayed: bigint;
  readonly waitedMs: number;
  constructor(wanted: bigint, replayed: bigint, waitedMs: number) {
    super(`the replica replayed ${replayed} but the events need ${wanted} (waited ${waitedMs} ms)`);
    this.name = 'ReplicaBehind';
    this.wanted = wanted;
    this.replayed = replayed;
    this.waitedMs = waitedMs;
  }
}

const POLL_MS = 5;

export class ReplicaClock {
  readonly #pool: pg.Pool;
  #replayed = -1n;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /**
   * The replay position now; on a primary (no replay: a stack without a replica) its current WAL position, which
   * every committed transaction is at or below.
   */
  async position(): Promise<bigint> {
    const { rows } = await this.#pool.query<{ lsn: string }>(
      'SELECT coalesce(pg_last_wal_replay_lsn(), pg_current_wal_lsn())::text AS lsn',
    );
    const lsn = lsnToBigInt(rows[0]?.lsn ?? '0/0');
    if (lsn > this.#replayed) this.#replayed = lsn;
    return lsn;
  }

  /** Resolves once the replica has replayed `lsn`; throws ReplicaBehind after `timeoutMs`. */
  async waitFor(lsn: bigint, timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.#replayed >= lsn) return;
    const started = Date.now();
    for (;;) {
      if ((await this.position()) >= lsn) return;
      const waited = Date.now() - started;
      if (waited > timeoutMs || signal.aborted) throw new ReplicaBehind(lsn, this.#replayed, waited);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
}
