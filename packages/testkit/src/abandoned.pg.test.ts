import crypto from 'node:crypto';
import pg from 'pg';
import { describe, expect, test } from 'vitest';
import { withDatabase } from '@bgc/config/database';
import { sweepAbandonedTestDatabases } from './abandoned.ts';
import { stackEndpoints } from './context.ts';

describe('testkit: what killed runs leave behind', () => {
  test('an old test database nobody uses is dropped with its replication slot; a used or young one is kept', async () => {
    const stack = stackEndpoints();
    const admin = new pg.Client({ connectionString: withDatabase(stack.pgUrl, 'postgres') });
    await admin.connect();
    const id = crypto.randomBytes(4).toString('hex');
    const [abandoned, busy] = [`t_sweep_${id}_abandoned`, `t_sweep_${id}_busy`];
    const like = `t\\_sweep\\_${id}\\_%`;
    const lines: string[] = [];
    const log = (line: string) => lines.push(line);
    let user: pg.Client | undefined;
    try {
      for (const name of [abandoned, busy]) {
        await admin.query(`CREATE DATABASE "${name}"`);
        const inDb = new pg.Client({ connectionString: withDatabase(stack.pgUrl, name) });
        await inDb.connect();
        // a slot left by a CDC service that was killed with its test
        await inDb.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [`slot_${name}`]);
        await inDb.end();
      }
      user = new pg.Client({ connectionString: withDatabase(stack.pgUrl, busy) });
      await user.connect();
      const exists = async (name: string) =>
        (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
      const slots = async () =>
        (await admin.query<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots')).rows.map(
          (r) => r.slot_name,
        );

      // young: nothing goes
      expect(await sweepAbandonedTestDatabases(admin, { minAgeMs: 3_600_000, log, like })).toEqual([]);
      expect(await exists(abandoned)).toBe(true);
      // old enough: the unused one goes with its slot, the one with a connection stays
      await new Promise((r) => setTimeout(r, 1100));
      expect(await sweepAbandonedTestDatabases(admin, { minAgeMs: 1000, log, like })).toEqual([abandoned]);
      expect(await exists(abandoned)).toBe(false);
      expect(await slots()).not.toContain(`slot_${abandoned}`);
      expect(await exists(busy)).toBe(true);
      expect(await slots()).toContain(`slot_${busy}`);
      expect(lines.join('\n')).toContain('dropped 1 test database');
    } finally {
      await user?.end();
      for (const name of [abandoned, busy]) {
        await admin.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, [
          name,
        ]);
        await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      }
      await admin.end();
    }
  });
});
