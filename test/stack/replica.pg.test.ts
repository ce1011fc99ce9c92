import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';

describe('postgres streaming replica', () => {
  test('streams from the primary: pg_stat_replication lists it and it is in recovery', async () => {
    await using ctx = await openTestContext('replica-stat');
    const primary = await ctx.pg('primary');
    const { rows } = await primary.query<{ application_name: string; state: string; sync_state: string }>(
      `SELECT application_name, state, sync_state FROM pg_stat_replication WHERE application_name = 'replica'`,
    );
    expect(rows).toEqual([{ application_name: 'replica', state: 'streaming', sync_state: 'async' }]);
    const replica = await ctx.pg('replica');
    const recovery = await replica.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    expect(recovery.rows[0]?.r).toBe(true);
  });

  test('a row written on the primary becomes readable on the replica', async () => {
    await using ctx = await openTestContext('replica-read');
    const primary = await ctx.pg('primary');
    await primary.query('CREATE TABLE note (id int PRIMARY KEY, body text)');
    const { rows: written } = await primary.query<{ lsn: string }>(
      "INSERT INTO note VALUES (1, 'hello') RETURNING pg_current_wal_insert_lsn()::text AS lsn",
    );
    const replica = await ctx.pg('replica');
    const deadline = Date.now() + 10_000;
    let body: string | undefined;
    while (body === undefined && Date.now() < deadline) {
      const replayed = await replica.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [
        written[0]?.lsn,
      ]);
      if (replayed.rows[0]?.ok)
        body = (await replica.query<{ body: string }>('SELECT body FROM note WHERE id = 1')).rows[0]?.body;
      else await new Promise((r) => setTimeout(r, 20));
    }
    expect(body).toBe('hello');
  });

  test('refuses writes', async () => {
    await using ctx = await openTestContext('replica-ro');
    const replica = await ctx.pg('replica');
    await expect(replica.query('CREATE TABLE nope (id int)')).rejects.toMatchObject({ code: '25006' });
  });
});
