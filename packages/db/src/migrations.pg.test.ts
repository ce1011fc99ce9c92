import fs from 'node:fs';
import type { ClientBase } from 'pg';
import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { caughtUp } from '@bgc/testkit/replica';
import { migrate, MIGRATIONS_DIR } from './migrate.ts';
import { maintainPartitions } from './partitions.ts';

const migrationCount = fs.readdirSync(MIGRATIONS_DIR).filter((f) => /\.(sql|ts)$/.test(f)).length;

/** A little of everything, in several months, including one far ahead that has no partition yet. */
async function populate(db: ClientBase) {
  await db.query(`
    INSERT INTO users (id, email, name, password_hash) VALUES
      ('00000000-0000-0000-0000-000000000001', 'ann@example.com', 'Ann', 'x'),
      ('00000000-0000-0000-0000-000000000002', 'bob@example.com', 'Bob', 'x');
    INSERT INTO profiles (user_id, interests) VALUES ('00000000-0000-0000-0000-000000000001', '["chess"]');
    INSERT INTO relationships (from_user_id, to_user_id, type, status)
      VALUES ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000002', 'FRIEND', 'ACCEPTED');
    INSERT INTO chat_rooms (id, name, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000aa', 'lobby', '00000000-0000-0000-0000-000000000001');
    INSERT INTO messages (room_id, sender_id, content, created_at)
      SELECT '00000000-0000-0000-0000-0000000000aa', '00000000-0000-0000-0000-000000000001', 'm' || g,
             now() - g * interval '20 days'
        FROM generate_series(0, 5) g;
    INSERT INTO messages (room_id, sender_id, content, created_at)
      VALUES ('00000000-0000-0000-0000-0000000000aa', '00000000-0000-0000-0000-000000000002', 'from the future',
              now() + interval '2 years');
    INSERT INTO status_updates (author_id, content) VALUES ('00000000-0000-0000-0000-000000000002', 'hello');
    INSERT INTO forum_categories (id, slug, name) VALUES ('00000000-0000-0000-0000-0000000000cc', 'chess', 'Chess');
    INSERT INTO forum_threads (id, category_id, author_id, title)
      VALUES ('00000000-0000-0000-0000-0000000000dd', '00000000-0000-0000-0000-0000000000cc',
              '00000000-0000-0000-0000-000000000001', 'Openings');
    INSERT INTO forum_posts (category_id, thread_id, author_id, content)
      VALUES ('00000000-0000-0000-0000-0000000000cc', '00000000-0000-0000-0000-0000000000dd',
              '00000000-0000-0000-0000-000000000002', 'e4');
  `);
}

describe('migrations', () => {
  test('each migration goes down and up again on a populated database, then all go down and up', async () => {
    await using ctx = await openTestContext('migrations', { migrated: true });
    const url = ctx.roleUrl('migrator');
    const db = await ctx.connectAs('migrator');
    await maintainPartitions(db, { since: new Date(Date.now() - 150 * 86_400_000) });
    await populate(db);
    await maintainPartitions(db);

    // the newest first: undo one, redo it, then step below it, so every down and up runs against real rows
    for (let undone = 1; undone <= migrationCount; undone++) {
      const down = await migrate({ databaseUrl: url, direction: 'down', count: undone });
      expect(down).toHaveLength(undone);
      const up = await migrate({ databaseUrl: url, direction: 'up' });
      expect(up.map((m) => m.name)).toEqual(down.map((m) => m.name).reverse());
    }
    const all = await migrate({ databaseUrl: url, direction: 'down' });
    expect(all).toHaveLength(migrationCount);
    const left = await db.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`);
    expect(left.rows).toEqual([]);
    expect(await migrate({ databaseUrl: url, direction: 'up' })).toHaveLength(migrationCount);

    const invalid = await db.query(`SELECT indexrelid::regclass::text AS name FROM pg_index WHERE NOT indisvalid`);
    expect(invalid.rows).toEqual([]);
  });
});

describe('partitions', () => {
  test('a write into a period with no partition lands in DEFAULT, and the maintainer moves it into its period', async () => {
    await using ctx = await openTestContext('partitions', { migrated: true });
    const migrator = await ctx.connectAs('migrator');
    await populate(migrator);
    const future = await migrator.query(
      `SELECT tableoid::regclass::text AS part FROM messages WHERE content = 'from the future'`,
    );
    expect(future.rows).toEqual([{ part: 'messages_default' }]);

    const report = await maintainPartitions(migrator);
    const month = (
      await migrator.query<{ s: string }>(
        `SELECT maintenance.partition_suffix('month', now() + interval '2 years') AS s`,
      )
    ).rows[0]?.s;
    expect(report.created).toContain(`messages_${month}`);
    const moved = await migrator.query(
      `SELECT tableoid::regclass::text AS part FROM messages WHERE content = 'from the future'`,
    );
    expect(moved.rows).toEqual([{ part: `messages_${month}` }]);
    expect((await migrator.query('SELECT count(*)::int AS n FROM messages_default')).rows[0]).toEqual({ n: 0 });
    expect((await migrator.query('SELECT count(*)::int AS n FROM messages')).rows[0]).toEqual({ n: 7 });
  });

  test('keeps three future periods of each table, one list partition per forum category, and drops expired periods', async () => {
    await using ctx = await openTestContext('partitions-policy', { migrated: true });
    const migrator = await ctx.connectAs('migrator');
    await populate(migrator);
    // the post was written before its category had a partition
    const before = await migrator.query(`SELECT tableoid::regclass::text AS part FROM forum_posts`);
    expect(before.rows).toEqual([{ part: 'forum_posts_default' }]);

    // periods from four years back, one of them holding a row, as if the retention had been longer before
    await migrator.query(
      `SELECT maintenance.ensure_range_partitions('messages', 'month', 3, now() - interval '4 years')`,
    );
    await migrator.query(
      `SELECT maintenance.ensure_range_partitions('status_updates', 'week', 3, now() - interval '4 years')`,
    );
    await migrator.query(`INSERT INTO messages (room_id, sender_id, content, created_at)
      VALUES ('00000000-0000-0000-0000-0000000000aa', '00000000-0000-0000-0000-000000000001', 'old', now() - interval '4 years')`);
    const report = await maintainPartitions(migrator);
    const after = await migrator.query<{ part: string }>(`SELECT tableoid::regclass::text AS part FROM forum_posts`);
    expect(after.rows[0]?.part).toMatch(/^forum_posts_c0{16}_p\d{4}_\d{2}$/);

    const future = await migrator.query<{ parent: string; n: number }>(`
      SELECT p.parent, count(*)::int AS n
        FROM maintenance.partition_policy p, pg_partition_tree(p.parent::regclass) t
        JOIN pg_class c ON c.oid = t.relid
       WHERE t.isleaf AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
         AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz > now()
       GROUP BY p.parent ORDER BY p.parent`);
    expect(future.rows).toEqual([
      { parent: 'forum_posts', n: 3 },
      // the populated message two years ahead made its own period, beyond the three premade
      { parent: 'messages', n: 4 },
      { parent: 'status_updates', n: 3 },
    ]);
    // messages keep 36 months and status updates 104 weeks: the periods four years back are gone
    expect(report.dropped.some((n) => n.startsWith('messages_p'))).toBe(true);
    expect(report.dropped.some((n) => n.startsWith('status_updates_p'))).toBe(true);
    const oldest = await migrator.query<{ oldest: Date }>(`SELECT min(created_at) AS oldest FROM messages`);
    expect(oldest.rows[0]?.oldest.getTime()).toBeGreaterThan(Date.now() - 37 * 31 * 86_400_000);
  });

  test('every partition, old or new, has its parent’s replica identity and indexes', async () => {
    await using ctx = await openTestContext('partitions-identity', { migrated: true });
    const migrator = await ctx.connectAs('migrator');
    await populate(migrator);
    await maintainPartitions(migrator);
    const leaves = await migrator.query<{ leaf: string; ident: string; brin: boolean; keyset: boolean }>(`
      SELECT c.relname AS leaf, c.relreplident AS ident,
             EXISTS (SELECT 1 FROM pg_index i JOIN pg_am a ON a.oid = (SELECT relam FROM pg_class WHERE oid = i.indexrelid)
                      WHERE i.indrelid = c.oid AND a.amname = 'brin') AS brin,
             EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indnatts = 3) AS keyset
        FROM (SELECT relid FROM pg_partition_tree('messages') UNION ALL SELECT relid FROM pg_partition_tree('status_updates')
              UNION ALL SELECT relid FROM pg_partition_tree('forum_posts')) t
        JOIN pg_class c ON c.oid = t.relid WHERE c.relkind = 'r'`);
    expect(leaves.rows.length).toBeGreaterThan(10);
    for (const leaf of leaves.rows) expect(leaf, leaf.leaf).toMatchObject({ ident: 'f', brin: true, keyset: true });
  });
});

describe('roles', () => {
  test('each service role can do its job and nothing more; none is a superuser', async () => {
    await using ctx = await openTestContext('roles', { migrated: true });
    const writer = await ctx.connectAs('writer');
    await writer.query(`INSERT INTO users (email, name, password_hash) VALUES ('w@example.com', 'W', 'x')`);
    await expect(writer.query('CREATE TABLE sneaky (id int)')).rejects.toMatchObject({ code: '42501' });
    await expect(writer.query('DROP TABLE users')).rejects.toMatchObject({ code: '42501' });
    await expect(writer.query('SELECT * FROM migrations.pgmigrations')).rejects.toMatchObject({ code: '42501' });
    await expect(
      writer.query(`SELECT maintenance.ensure_range_partitions('messages', 'month', 3)`),
    ).rejects.toMatchObject({
      code: '42501',
    });

    const reader = await ctx.connectAs('reader');
    // the reader is on the asynchronous replica: read once it has replayed the insert (it lags under load)
    await caughtUp(writer, reader, 'the replica to replay the insert');
    const seen = await reader.query<{ n: number }>(`SELECT count(*)::int AS n FROM users`);
    expect(seen.rows[0]?.n).toBe(1);
    await expect(reader.query(`DELETE FROM users`)).rejects.toMatchObject({ code: '25006' }); // the replica refuses

    const cdc = await ctx.connectAs('cdc');
    const roles = await cdc.query<{ rolname: string; rolsuper: boolean; rolreplication: boolean }>(
      `SELECT rolname, rolsuper, rolreplication FROM pg_roles WHERE rolname LIKE 'bgc\\_%' ORDER BY rolname`,
    );
    expect(roles.rows).toEqual([
      { rolname: 'bgc_cdc', rolsuper: false, rolreplication: true },
      { rolname: 'bgc_migrator', rolsuper: false, rolreplication: false },
      { rolname: 'bgc_reader', rolsuper: false, rolreplication: false },
      { rolname: 'bgc_writer', rolsuper: false, rolreplication: false },
    ]);
    await expect(cdc.query(`SELECT count(*) FROM messages`)).resolves.toBeDefined();
    await expect(cdc.query(`DELETE FROM users`)).rejects.toMatchObject({ code: '42501' });
  });
});

describe('schema', () => {
  test('the CDC publication covers the domain tables through their partition roots', async () => {
    await using ctx = await openTestContext('publication', { migrated: true });
    const db = await ctx.connectAs('migrator');
    const pub = await db.query(`SELECT pubviaroot FROM pg_publication WHERE pubname = 'bgc_cdc'`);
    expect(pub.rows).toEqual([{ pubviaroot: true }]);
    const tables = await db.query<{ tablename: string }>(
      `SELECT tablename FROM pg_publication_tables WHERE pubname = 'bgc_cdc' ORDER BY tablename`,
    );
    expect(tables.rows.map((r) => r.tablename)).toEqual([
      'chat_rooms',
      'conversation_participants',
      'conversations',
      'forum_categories',
      'forum_posts',
      'forum_threads',
      'messages',
      'profiles',
      'relationships',
      'room_members',
      'status_updates',
      'user_counts',
      'users',
    ]);
    // every column of every published table, except the password hashes
    const columns = await db.query<{ tablename: string; attnames: string[] }>(
      `SELECT tablename, attnames FROM pg_publication_tables WHERE pubname = 'bgc_cdc'`,
    );
    const users = columns.rows.find((r) => r.tablename === 'users')?.attnames ?? [];
    expect(users).toContain('email');
    expect(users).not.toContain('password_hash');
    const profiles = columns.rows.find((r) => r.tablename === 'profiles')?.attnames ?? [];
    expect(profiles).toContain('bio');
  });

  test('new history rows get time-ordered ids (UUIDv7), in every partition, as the writer', async () => {
    await using ctx = await openTestContext('uuidv7', { migrated: true });
    const db = await ctx.connectAs('writer');
    const nowMs = async () =>
      Number(
        (await db.query<{ ms: string }>(`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint::text AS ms`))
          .rows[0]?.ms,
      );
    const before = await nowMs();
    await populate(db); // includes a message in a month with no partition yet (DEFAULT)
    const after = await nowMs();
    const ids = await db.query<{ table: string; id: string; ms: string }>(`
      SELECT t, id::text AS id, ('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48)::bigint::text AS ms
        FROM (SELECT 'messages' AS t, id FROM messages
              UNION ALL SELECT 'status_updates', id FROM status_updates
              UNION ALL SELECT 'forum_posts', id FROM forum_posts) rows`);
    expect(ids.rows.length).toBe(9);
    for (const row of ids.rows) {
      // version 7, RFC 9562 variant, and the leading 48 bits are the insert's time in ms
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(Number(row.ms)).toBeGreaterThanOrEqual(before);
      expect(Number(row.ms)).toBeLessThanOrEqual(after);
    }
    // ids made a few milliseconds apart sort in the order they were made (within one millisecond the rest is random)
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      made.push((await db.query<{ id: string }>(`SELECT uuidv7()::text AS id`)).rows[0]?.id ?? '');
      await new Promise((r) => setTimeout(r, 3));
    }
    expect([...made].sort()).toEqual(made);
  });

  test('every update raises the row version; bad rows are refused by constraints', async () => {
    await using ctx = await openTestContext('versions', { migrated: true });
    const db = await ctx.connectAs('writer');
    await populate(db);
    const updated = await db.query<{ version: string }>(
      `UPDATE users SET name = 'Ann B' WHERE email = 'ann@example.com' RETURNING version::text`,
    );
    expect(updated.rows[0]?.version).toBe('2');
    const msg = await db.query<{ version: string }>(
      `UPDATE messages SET content = 'edited' WHERE content = 'm1' RETURNING version::text`,
    );
    expect(msg.rows[0]?.version).toBe('2');
    // a message is in a room or a conversation, never both or neither
    await expect(
      db.query(`INSERT INTO messages (sender_id, content) VALUES ('00000000-0000-0000-0000-000000000001', 'nowhere')`),
    ).rejects.toMatchObject({ code: '23514' });
    // emails are unique whatever their case
    await expect(
      db.query(`INSERT INTO users (email, name, password_hash) VALUES ('ANN@example.com', 'Imposter', 'x')`),
    ).rejects.toMatchObject({ code: '23505', constraint: 'users_email_lower_key' });
  });
});
