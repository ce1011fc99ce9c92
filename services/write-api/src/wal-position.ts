/**
 * The WAL position a write's response carries (`Commit-LSN`), read once for many requests. Any read of
 * `pg_current_wal_lsn()` that *starts* after a commit returns a position at or past that commit's end, so a caller
 * that has committed may share a read that has not started yet, never one already in flight (it may have been
 * answered before the commit). Under load this turns one query per request into about one per round-trip time.
 */
import type pg from 'pg';

const ignore = () => undefined;

export class WalPositionReader {
  readonly #pool: pg.Pool;
  /** the read in flight, if any */
  #running: Promise<string> | undefined;
  /** the read that starts as soon as the running one ends: every caller that arrives meanwhile shares it */
  #queued: Promise<string> | undefined;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** A WAL position at or past the end of every transaction this process committed before the call. */
  afterCommit(): Promise<string> {
    if (this.#queued) return this.#queued;
    if (!this.#running) return this.#start();
    const queued = this.#running.then(ignore, ignore).then(() => {
      this.#queued = undefined;
      return this.#start();
    });
    this.#queued = queued;
    return queued;
  }

  #start(): Promise<string> {
    const read = this.#pool
      .query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')
      .then(({ rows: [row] }) => row?.lsn ?? '0/0');
    this.#running = read;
    const done = () => {
      if (this.#running === read) this.#running = undefined;
    };
    read.then(done, done);
    return read;
  }
}
