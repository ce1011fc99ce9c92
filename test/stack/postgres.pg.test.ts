import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';

describe('postgres primary', () => {
  test('accepts a logical replication slot with pgoutput and a publication', async () => {
    await using ctx = await openTestContext('pg-slot');
    const db = await ctx.pg('primary');
    await db.query('CREATE TABLE item (id int PRIMARY KEY, name text)');
    await db.query('CREATE PUBLICATION pub FOR TABLE item');
    const slot = `slot_${ctx.id}`;
    const { rows } = await db.query<{ slot_name: string; lsn: string }>(
      `SELECT slot_name, lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')`,
      [slot],
    );
    expect(rows[0]?.slot_name).toBe(slot);
    try {
      await db.query("INSERT INTO item VALUES (1, 'one')");
      // the slot decodes the insert through pgoutput (binary): one Insert ('I') message for our relation
      const changes = await db.query<{ data: Buffer }>(
        `SELECT data FROM pg_logical_slot_get_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', 'pub')`,
        [slot],
      );
      const kinds = changes.rows.map((r) => String.fromCharCode(r.data[0] ?? 0));
      expect(kinds).toEqual(['B', 'R', 'I', 'C']);
    } finally {
      await db.query('SELECT pg_drop_replication_slot($1)', [slot]);
    }
  });

  test('is configured for CDC: wal_level, senders, slots and a WAL cap for stalled slots', async () => {
    await using ctx = await openTestContext('pg-settings');
    const db = await ctx.pg('primary');
    const { rows } = await db.query<{ name: string; setting: string; unit: string | null }>(
      `SELECT name, setting, unit FROM pg_settings WHERE name IN
         ('wal_level', 'max_wal_senders', 'max_replication_slots', 'max_slot_wal_keep_size', 'shared_preload_libraries')`,
    );
    const s = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
    expect(s.wal_level).toBe('logical');
    expect(Number(s.max_wal_senders)).toBeGreaterThanOrEqual(10);
    expect(Number(s.max_replication_slots)).toBeGreaterThanOrEqual(10);
    expect(Number(s.max_slot_wal_keep_size)).toBeGreaterThan(0); // -1 would mean unbounded
    expect(s.shared_preload_libraries).toContain('pg_stat_statements');
  });

  test('has pg_stat_statements collecting statements', async () => {
    await using ctx = await openTestContext('pg-statements');
    const db = await ctx.pg('primary');
    const marker = `stmt_marker_${ctx.id}`;
    await db.query(`SELECT 1 AS ${marker}`);
    const { rows } = await db.query<{ calls: string }>(
      `SELECT calls::text FROM pg_stat_statements WHERE query LIKE $1`,
      [`%${marker}%`],
    );
    expect(Number(rows[0]?.calls)).toBeGreaterThanOrEqual(1);
  });
});
