/**
 * `user_counts` (migrations `…_user_counts.sql`, `…_user_counts_backfill.ts`): the triggers keep every user's row
 * equal to what counting the relationships gives, through inserts, status changes, type changes, deletes and a
 * user's deletion; the batched backfill fills the rows of users who had none while relationships keep changing, and
 * retries a batch that deadlocks with a writer; and `user_counts_recount()` repairs a row without touching the right
 * ones.
 */
import type { ClientBase } from 'pg';
import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import { seededRandom } from '@bgc/testkit/seeded-random';

/** The counts as the relationships give them (the definition the triggers must keep). */
const COUNTED = `
SELECT u.id AS user_id,
       (SELECT count(*) FROM relationships r
         WHERE (r.from_user_id = u.id OR r.to_user_id = u.id) AND r.type = 'FRIEND' AND r.status = 'ACCEPTED')::int
         AS friends,
       (SELECT count(*) FROM relationships r WHERE r.to_user_id = u.id AND r.type = 'FOLLOW' AND r.status = 'ACCEPTED')::int
         AS followers,
       (SELECT count(*) FROM relationships r WHERE r.from_user_id = u.id AND r.type = 'FOLLOW' AND r.status = 'ACCEPTED')::int
         AS following,
       (SELECT count(*) FROM relationships r WHERE r.from_user_id = u.id AND r.type = 'BLOCK')::int AS blocking
  FROM users u ORDER BY u.id`;
const KEPT = `SELECT user_id, friends, followers, following, blocking FROM user_counts ORDER BY user_id`;

async function addUsers(db: ClientBase, n: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO users (email, name, password_hash)
     SELECT 'u' || g || '@example.com', 'User ' || g, 'x' FROM generate_series(1, $1) g RETURNING id`,
    [n],
  );
  return rows.map((r) => r.id);
}

/** `n` random relationship writes among `users`: inserts, status and type changes, deletes. */
async function randomChanges(db: ClientBase, users: string[], n: number, seed: number) {
  const random = seededRandom(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)] as T;
  const types = ['FRIEND', 'FOLLOW', 'BLOCK'] as const;
  const statuses = ['PENDING', 'ACCEPTED', 'DECLINED'] as const;
  for (let i = 0; i < n; i++) {
    const [from, to] = [pick(users), pick(users)];
    if (from === to) continue;
    const action = random();
    if (action < 0.5) {
      await db.query(
        `INSERT INTO relationships (from_user_id, to_user_id, type, status) VALUES ($1, $2, $3, $4)
         ON CONFLICT (from_user_id, type, to_user_id) DO UPDATE SET status = excluded.status`,
        [from, to, pick(types), pick(statuses)],
      );
    } else if (action < 0.7) {
      await db.query(`UPDATE relationships SET status = $3 WHERE from_user_id = $1 AND to_user_id = $2`, [
        from,
        to,
        pick(statuses),
      ]);
    } else if (action < 0.75) {
      // a type change moves the row between counts (the unique key may refuse it: then nothing changed)
      await db
        .query(`UPDATE relationships SET type = $3 WHERE from_user_id = $1 AND to_user_id = $2`, [
          from,
          to,
          pick(types),
        ])
        .catch((err: unknown) => {
          if ((err as { code?: string }).code !== '23505') throw err;
        });
    } else {
      await db.query(`DELETE FROM relationships WHERE from_user_id = $1 AND to_user_id = $2`, [from, to]);
    }
  }
}

describe('user_counts', () => {
  test('random relationship changes keep every row equal to the count', async () => {
    await using ctx = await openTestContext('user-counts', { migrated: true });
    const db = await ctx.connectAs('writer');
    const users = await addUsers(db, 12);
    expect((await db.query(KEPT)).rows).toHaveLength(12);
    await randomChanges(db, users, 400, Number(process.env.BGC_TEST_SEED ?? 7));
    const counted = (await db.query(COUNTED)).rows;
    expect(counted.some((r: { friends: number }) => r.friends > 0)).toBe(true);
    expect((await db.query(KEPT)).rows).toEqual(counted);

    // a user's deletion: the others' counts lose that user's edges, and the user's row goes with it
    const migrator = await ctx.connectAs('migrator');
    await migrator.query('DELETE FROM users WHERE id = $1', [users[0]]);
    expect((await db.query(KEPT)).rows).toEqual((await db.query(COUNTED)).rows);
    expect((await db.query(KEPT)).rows).toHaveLength(11);
  });

  test('each change bumps the version once; a recount fixes a wrong row and leaves the right ones alone', async () => {
    await using ctx = await openTestContext('user-counts-recount', { migrated: true });
    const db = await ctx.connectAs('migrator');
    const [ann, bob, cat] = await addUsers(db, 3);
    const version = async (id: string | undefined) =>
      Number(
        (await db.query<{ version: string }>('SELECT version FROM user_counts WHERE user_id = $1', [id])).rows[0]
          ?.version,
      );
    await db.query(
      `INSERT INTO relationships (from_user_id, to_user_id, type, status) VALUES ($1, $2, 'FOLLOW', 'ACCEPTED')`,
      [bob, ann],
    );
    expect([await version(ann), await version(bob), await version(cat)]).toEqual([2, 2, 1]);
    // a change that moves no count (PENDING → DECLINED) writes no row, so CDC streams nothing for it
    await db.query(
      `INSERT INTO relationships (from_user_id, to_user_id, type, status) VALUES ($1, $2, 'FRIEND', 'PENDING')`,
      [cat, ann],
    );
    await db.query(`UPDATE relationships SET status = 'DECLINED' WHERE from_user_id = $1 AND type = 'FRIEND'`, [cat]);
    expect([await version(ann), await version(cat)]).toEqual([2, 1]);

    await db.query(`UPDATE user_counts SET followers = 40 WHERE user_id = $1`, [ann]);
    const { rows } = await db.query<{ n: string }>('SELECT user_counts_recount() AS n');
    expect(rows[0]?.n).toBe('1');
    expect((await db.query(KEPT)).rows).toEqual((await db.query(COUNTED)).rows);
    expect([await version(ann), await version(bob), await version(cat)]).toEqual([3, 2, 1]);
  });

  test('the batched backfill fills the rows users had none of, exactly, while relationships keep changing', async () => {
    await using ctx = await openTestContext('user-counts-backfill', { migrated: true });
    const db = await ctx.connectAs('writer');
    const users = await addUsers(db, 10);
    await randomChanges(db, users, 150, 11);
    // as before the migration: users without rows (the triggers then find nothing to update)
    const migrator = await ctx.connectAs('migrator');
    await migrator.query('DELETE FROM user_counts');
    await randomChanges(db, users, 50, 12);
    expect((await db.query(KEPT)).rows).toEqual([]);
    // batches of 2 users while another connection writes
    const writes = randomChanges(db, users, 150, 13);
    await migrator.query('CALL user_counts_backfill(2)');
    await writes;
    expect((await db.query(KEPT)).rows).toEqual((await db.query(COUNTED)).rows);
    // run again: nothing to change
    const before = (await db.query('SELECT user_id, version FROM user_counts ORDER BY user_id')).rows;
    await migrator.query('CALL user_counts_backfill(3)');
    expect((await db.query('SELECT user_id, version FROM user_counts ORDER BY user_id')).rows).toEqual(before);
  });

  test('a batch that deadlocks with a writer is rolled back and tried again; the writer goes on', async () => {
    await using ctx = await openTestContext('user-counts-deadlock', { migrated: true });
    const writer = await ctx.connectAs('writer');
    const [x, y, z] = await addUsers(writer, 3);
    await writer.query(
      `INSERT INTO relationships (from_user_id, to_user_id, type, status) VALUES ($1, $2, 'FRIEND', 'PENDING')`,
      [x, y],
    );
    const migrator = await ctx.connectAs('migrator');
    await migrator.query('DELETE FROM user_counts');
    const backfillPid = Number((await migrator.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid);
    // the writer holds the x→y row (the block route deletes rows first), the backfill locks x, then waits for that
    // row; the writer then inserts x→z, whose foreign-key check waits for x: a cycle, found first by the backfill,
    // which waited first
    await writer.query('BEGIN');
    await writer.query(`UPDATE relationships SET status = 'ACCEPTED' WHERE from_user_id = $1 AND to_user_id = $2`, [
      x,
      y,
    ]);
    const backfill = migrator.query('CALL user_counts_backfill(10)');
    const observer = await ctx.connectAs('migrator');
    await eventually('the backfill waiting for the writer’s row', async () => {
      const r = await observer.query<{ waiting: boolean }>(
        `SELECT wait_event_type = 'Lock' AS waiting FROM pg_stat_activity WHERE pid = $1`,
        [backfillPid],
      );
      return r.rows[0]?.waiting ? true : undefined;
    });
    await writer.query(
      `INSERT INTO relationships (from_user_id, to_user_id, type, status) VALUES ($1, $2, 'FOLLOW', 'ACCEPTED')`,
      [x, z],
    );
    await writer.query('COMMIT');
    await backfill;
    expect((await writer.query(KEPT)).rows).toEqual((await writer.query(COUNTED)).rows);
    expect((await writer.query(KEPT)).rows.find((r: { user_id: string }) => r.user_id === x)).toMatchObject({
      friends: 1,
      following: 1,
    });
  });
});
