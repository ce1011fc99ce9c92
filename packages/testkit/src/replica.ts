/** Waiting for the hot standby: a test that reads the replica must first know it has replayed the write. */
import type pg from 'pg';
import { eventually } from './eventually.ts';

/** Until `replica` (a client of the stack's replica) has replayed `lsn`: a Commit-LSN, or the primary's position. */
export async function replayedOn(replica: pg.Client, lsn: string | null, what = 'the replica to replay the write') {
  await eventually(what, async () => {
    const r = await replica.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn]);
    return r.rows[0]?.ok ? true : undefined;
  });
}
