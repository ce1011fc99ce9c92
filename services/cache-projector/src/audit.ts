/**
 * The consistency auditor: compares the projections in Redis with Postgres, by version, for a sample of users,
 * rooms, conversations and forum categories (or all of them): every projection the projector keeps (`projections.ts`).
 * A projection that is absent is a cache miss (evicted, expired, or never read), not a mismatch; one that is present
 * must say what Postgres says. Mismatches are checked again after `settleMs`, since an event may still be on its way;
 * only those that persist are reported. Every read touches one key or keys of one hash tag, so it runs the same on
 * a single Redis and on a Redis Cluster.
 */
import type pg from 'pg';
import type { Cluster, Redis } from 'ioredis';
import { FLOOR } from '@bgc/cache/front-page';
import type { Keyspace } from '@bgc/cache/keys';
import { presentMembers } from '@bgc/cache/scripts';
import { countsJson } from '@bgc/cache/projections';
import { rowVersion } from '@bgc/cache/versions';

export interface Mismatch {
  key: string;
  expected: unknown;
  found: unknown;
}

export interface AuditOptions {
  /** how many users and rooms to check; undefined: all */
  sample?: number;
  /** messages a room's recent list holds (the projector's setting) */
  recentMessages: number;
  /** how long a mismatch may be an event still in flight */
  settleMs: number;
  /** rounds of re-checking a mismatch */
  rechecks: number;
}

interface Check {
  key: string;
  /** undefined: Redis does not hold the projection (a miss, fine); otherwise what it says */
  read: () => Promise<unknown>;
  /** what Postgres says, given what Redis held */
  expected: (found: unknown) => Promise<unknown>;
}

const sorted = (xs: Iterable<string>) => [...xs].sort();

export async function audit(db: pg.Client | pg.Pool, redis: Redis | Cluster, keys: Keyspace, opts: AuditOptions) {
  const limit = opts.sample === undefined ? 'ALL' : String(Math.max(0, Math.floor(opts.sample)));
  const sample = async (table: string) =>
    (await db.query<{ id: string }>(`SELECT id FROM ${table} ORDER BY random() LIMIT ${limit}`)).rows;
  const users = await sample('users');
  const rooms = await sample('chat_rooms');
  const conversations = await sample('conversations');
  const categories = await sample('forum_categories');
  const checks: Check[] = [];
  const members = async (key: string) => {
    const hash = await redis.hgetall(key);
    return Object.keys(hash).length === 0 ? undefined : presentMembers(hash);
  };
  const ids = async (q: string, id: string) => sorted((await db.query<{ v: string }>(q, [id])).rows.map((r) => r.v));
  for (const { id } of users) {
    // each part of the document on its own: a part Redis does not hold is a miss (the document is partial until a
    // read refills it); a part it holds must carry Postgres's version, and the counts part Postgres's counts
    checks.push({
      key: keys.profile(id),
      read: async () => {
        const [uv = null, pv = null, cv = null, c = null, deleted = null] = await redis.hmget(
          keys.profile(id),
          'uv',
          'pv',
          'cv',
          'c',
          'deleted',
        );
        const doc = { uv, pv, cv, c, deleted };
        return Object.values(doc).every((v) => v === null) ? undefined : doc;
      },
      expected: async (found: unknown) => {
        const held = found as Record<string, string | null>;
        const r = await db.query<{
          uv: string | null;
          pv: string | null;
          cv: string | null;
          friends: number;
          followers: number;
          following: number;
          blocking: number;
        }>(
          `SELECT u.version::text AS uv, p.version::text AS pv, c.version::text AS cv,
                  c.friends, c.followers, c.following, c.blocking
             FROM users u LEFT JOIN profiles p ON p.user_id = u.id LEFT JOIN user_counts c ON c.user_id = u.id
            WHERE u.id = $1`,
          [id],
        );
        const row = r.rows[0];
        const part = (field: 'uv' | 'pv' | 'cv') =>
          held[field] === null || !row?.[field] ? null : rowVersion(row[field]);
        return {
          uv: part('uv'),
          pv: part('pv'),
          cv: part('cv'),
          // the bytes the projector and the read API's fill write
          c: held.c === null || !row?.cv ? null : countsJson(row),
          deleted: row ? null : '1',
        };
      },
    });
    const memberSet = (key: string, q: string): Check => ({
      key,
      read: async () => {
        const m = await members(key);
        return m ? sorted(m.keys()) : undefined;
      },
      expected: () => ids(q, id),
    });
    checks.push(
      memberSet(
        keys.friends(id),
        `SELECT CASE WHEN from_user_id = $1 THEN to_user_id::text || '>' ELSE from_user_id::text || '<' END AS v
           FROM relationships WHERE type = 'FRIEND' AND status = 'ACCEPTED' AND (from_user_id = $1 OR to_user_id = $1)`,
      ),
      memberSet(
        keys.following(id),
        `SELECT to_user_id::text AS v FROM relationships WHERE type = 'FOLLOW' AND status = 'ACCEPTED' AND from_user_id = $1`,
      ),
      memberSet(
        keys.followers(id),
        `SELECT from_user_id::text AS v FROM relationships WHERE type = 'FOLLOW' AND status = 'ACCEPTED' AND to_user_id = $1`,
      ),
      memberSet(
        keys.blocks(id),
        `SELECT to_user_id::text AS v FROM relationships WHERE type = 'BLOCK' AND from_user_id = $1`,
      ),
      memberSet(keys.rooms(id), `SELECT room_id::text AS v FROM room_members WHERE user_id = $1`),
      memberSet(
        keys.conversations(id),
        `SELECT conversation_id::text AS v FROM conversation_participants WHERE user_id = $1`,
      ),
    );
  }
  // Redis holds the newest messages of a room or conversation, at most `recentMessages` (fewer after deletes within
  // the window): they must be exactly Postgres's newest as many, each at its current version
  const recentMessages = (recent: string, bodies: string, column: 'room_id' | 'conversation_id', id: string) => ({
    key: recent,
    read: async () => {
      const ids = await redis.zrange(recent, '0', '-1');
      if (ids.length === 0) return undefined;
      const held = await redis.hmget(bodies, ...ids);
      return sorted(ids.map((m, i) => `${m}@${held[i]?.slice(0, 20) ?? 'no body'}`));
    },
    expected: async (found: unknown) => {
      const r = await db.query<{ v: string }>(
        `SELECT id::text || '@' || lpad(version::text, 20, '0') AS v FROM messages WHERE ${column} = $1
          ORDER BY created_at DESC, id DESC LIMIT $2`,
        [id, Math.min((found as string[]).length, opts.recentMessages)],
      );
      return sorted(r.rows.map((row) => row.v));
    },
  });
  for (const { id } of rooms) {
    checks.push({
      key: keys.roomMembers(id),
      read: async () => {
        const m = await members(keys.roomMembers(id));
        return m ? sorted([...m].map(([user, role]) => `${user}:${role}`)) : undefined;
      },
      expected: () => ids(`SELECT user_id::text || ':' || role::text AS v FROM room_members WHERE room_id = $1`, id),
    });
    checks.push(recentMessages(keys.roomRecent(id), keys.roomBodies(id), 'room_id', id));
  }
  for (const { id } of conversations) {
    checks.push({
      key: keys.conversationMembers(id),
      read: async () => {
        const m = await members(keys.conversationMembers(id));
        return m ? sorted(m.keys()) : undefined;
      },
      expected: () => ids(`SELECT user_id::text AS v FROM conversation_participants WHERE conversation_id = $1`, id),
    });
    checks.push(recentMessages(keys.conversationRecent(id), keys.conversationBodies(id), 'conversation_id', id));
  }
  // a front page vouches for the threads ranked above its floor (`front-page.ts`): those must be exactly the
  // category's threads whose last activity (in ms, the list's score) is above it, each at its current version
  for (const { id } of categories) {
    checks.push({
      key: keys.forumFront(id),
      read: async () => {
        const floor = await redis.zscore(keys.forumFront(id), FLOOR);
        if (floor === null) return undefined;
        const above = await redis.zrangebyscore(keys.forumFront(id), `(${floor}`, '+inf');
        const held = above.length > 0 ? await redis.hmget(keys.forumFrontBodies(id), ...above) : [];
        return { floor, threads: sorted(above.map((t, i) => `${t}@${held[i]?.slice(0, 20) ?? 'no body'}`)) };
      },
      expected: async (found) => {
        const { floor } = found as { floor: string };
        const r = await db.query<{ v: string }>(
          `SELECT id::text || '@' || lpad(version::text, 20, '0') AS v FROM forum_threads
            WHERE category_id = $1 AND floor(extract(epoch FROM last_post_at) * 1000) > $2::float8`,
          [id, floor === '-inf' ? '-Infinity' : floor],
        );
        return { floor, threads: sorted(r.rows.map((row) => row.v)) };
      },
    });
  }

  const compare = async (c: Check): Promise<Mismatch | undefined> => {
    const found = await c.read();
    if (found === undefined) return undefined;
    const expected = await c.expected(found);
    return JSON.stringify(found) === JSON.stringify(expected) ? undefined : { key: c.key, expected, found };
  };
  let suspects = checks;
  let mismatches: Mismatch[] = [];
  for (let round = 0; round <= opts.rechecks; round++) {
    if (round > 0) await new Promise((r) => setTimeout(r, opts.settleMs));
    // one at a time: a pg client runs one query at a time anyway
    mismatches = [];
    for (const c of suspects) {
      const m = await compare(c);
      if (m) mismatches.push(m);
    }
    const bad = new Set(mismatches.map((m) => m.key));
    suspects = suspects.filter((c) => bad.has(c.key));
    if (suspects.length === 0) break;
  }
  return {
    checked: checks.length,
    users: users.length,
    rooms: rooms.length,
    conversations: conversations.length,
    categories: categories.length,
    mismatches,
  };
}
