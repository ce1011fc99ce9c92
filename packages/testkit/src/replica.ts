/** Waiting for the hot standby: a test that reads the replica must first know it has replayed the write. */
import type pg from 'pg';
import { eventually } from './eventually.ts';

/** Until `replica` (a client of the stack's replica) has replayed `lsn`: a Commit-LSN, or the primary's position. */
export async function replayedOn(
  replica: pg.ClientBase,
  lsn: string | null,
  what = 'the replica to replay the write',
): Promise<void> {
  await eventually(what, async () => {
    const r = await replica.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn]);
    return r.rows[0]?.ok ? true : undefined;
  });
}

/**
 * Until `replica` has replayed everything `primary` (any client of the primary) has written so far: for rows written
 * straight to the database, which carry no Commit-LSN. Resolves with that position.
 */
export async function caughtUp(primary: pg.ClientBase, replica: pg.ClientBase, what?: string): Promise<string> {
  const { rows } = await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  const lsn = rows[0]?.lsn;
  if (!lsn) throw new Error('the primary did not say its WAL position');
  await replayedOn(replica, lsn, what);
  return lsn;
}
