/**
 * The deferred-index load mode must leave the schema exactly as migrations made it: the same index and
 * constraint definitions on every table, and every partition carrying its parent's indexes again; and the
 * user_counts rows, counted after a load without their triggers, right, with the triggers back on.
 */
import { expect, test } from 'vitest';
import type pg from 'pg';
import { openTestContext } from '@bgc/testkit/context';
import { generate } from './generate.ts';
import { makeWorld, SCALES } from './world.ts';

async function schema(db: pg.ClientBase) {
  const { rows: indexes } = await db.query<{ d: string }>(
    `SELECT pg_get_indexdef(i.indexrelid) AS d FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT c.relispartition ORDER BY 1`,
  );
  const { rows: constraints } = await db.query<{ d: string }>(
    `SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(con.oid) || ' ' || convalidated AS d
       FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid
      WHERE con.connamespace = 'public'::regnamespace AND con.conparentid = 0 AND NOT t.relispartition ORDER BY 1`,
  );
  // leaf partitions with fewer indexes than their root: an index that was not rebuilt everywhere
  const { rows: missing } = await db.query<{ leaf: string }>(
    `SELECT t.relid::text AS leaf
       FROM pg_partition_tree('messages') t
      WHERE t.isleaf AND (SELECT count(*) FROM pg_index WHERE indrelid = t.relid)
                         <> (SELECT count(*) FROM pg_index WHERE indrelid = 'messages'::regclass)`,
  );
  return { indexes: indexes.map((r) => r.d), constraints: constraints.map((r) => r.d), missing };
}

test('generate --defer-indexes rebuilds every index, unique constraint and foreign key as migrated', async () => {
  await using ctx = await openTestContext('defer', { migrated: true });
  const db = await ctx.connectAs('migrator');
  const before = await schema(db);
  const world = makeWorld(3, Date.now(), { ...SCALES.tiny, messages: 5_000, statusUpdates: 1_000 });
  const report = await generate({ url: ctx.roleUrl('migrator'), world, deferIndexes: true, jobs: 2 });
  expect(report.rebuildSeconds).not.toBeNull();
  const after = await schema(db);
  expect(after.indexes).toEqual(before.indexes);
  expect(after.constraints).toEqual(before.constraints);
  expect(after.missing).toEqual([]);
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM messages');
  expect(rows[0]!.n).toBe(5_000);

  // the load ran with the user_counts triggers off and counted every user afterwards: the rows are the counts, and
  // the triggers are on again (a new follow moves them)
  const wrong = `SELECT count(*)::int AS n FROM users u JOIN user_counts c ON c.user_id = u.id
    WHERE c.followers <> (SELECT count(*) FROM relationships r
                           WHERE r.to_user_id = u.id AND r.type = 'FOLLOW' AND r.status = 'ACCEPTED')
       OR c.friends <> (SELECT count(*) FROM relationships r WHERE (r.from_user_id = u.id OR r.to_user_id = u.id)
                          AND r.type = 'FRIEND' AND r.status = 'ACCEPTED')
       OR c.following <> (SELECT count(*) FROM relationships r
                           WHERE r.from_user_id = u.id AND r.type = 'FOLLOW' AND r.status = 'ACCEPTED')
       OR c.blocking <> (SELECT count(*) FROM relationships r WHERE r.from_user_id = u.id AND r.type = 'BLOCK')`;
  const counted = await db.query<{ users: number; rows: number; followed: number }>(
    `SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM user_counts) AS rows,
            (SELECT count(*)::int FROM user_counts WHERE followers > 0) AS followed`,
  );
  expect(counted.rows[0]?.rows).toBe(counted.rows[0]?.users);
  expect(counted.rows[0]?.followed).toBeGreaterThan(0);
  expect((await db.query<{ n: number }>(wrong)).rows[0]?.n).toBe(0);
  const [a, b] = (await db.query<{ id: string }>('SELECT id FROM users ORDER BY id LIMIT 2')).rows.map((r) => r.id);
  await db.query('DELETE FROM relationships WHERE (from_user_id, to_user_id) IN (($1::uuid, $2::uuid), ($2, $1))', [
    a,
    b,
  ]);
  await db.query(
    `INSERT INTO relationships (from_user_id, to_user_id, type, status) VALUES ($1, $2, 'FOLLOW', 'ACCEPTED')`,
    [a, b],
  );
  expect((await db.query<{ n: number }>(wrong)).rows[0]?.n).toBe(0);
}, 120_000);
