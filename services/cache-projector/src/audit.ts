/**
 * The consistency auditor: compares the projections in Redis with Postgres, by version, for a sample of users and
 * rooms (or all of them). A projection that is absent is a cache miss (evicted, expired, or never read), not a
 * mismatch; one that is present must say what Postgres says. Mismatches are checked again after `settleMs`, since
 * an event may still be on its way; only those that persist are reported.
 */
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Keyspace } from '@bgc/cache/keys';
import { presentMembers } from '@bgc/cache/scripts';
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

export async function audit(db: pg.Client | pg.Pool, redis: Redis, keys: Keyspace, opts: AuditOptions) {
  const limit = opts.sample === undefined ? 'ALL' : String(Math.max(0, Math.floor(opts.sample)));
  const users = (await db.query<{ id: string }>(`SELECT id FROM users ORDER BY random() LIMIT ${limit}`)).rows;
  const rooms = (await db.query<{ id: string }>(`SELECT id FROM chat_rooms ORDER BY random() LIMIT ${limit}`)).rows;
  const checks: Check[] = [];
  const members = async (key: string) => {
    const hash = await redis.hgetall(key);
    return Object.keys(hash).length === 0 ? undefined : presentMembers(hash);
  };
  const ids = async (q: string, id: string) => sorted((await db.query<{ v: string }>(q, [id])).rows.map((r) => r.v));
  for (const { id } of users) {
    checks.push({
      key: keys.profile(id),
      read: async () => {
        const doc = await redis.hmget(keys.profile(id), 'uv', 'pv', 'deleted');
        return doc.every((v) => v === null) ? undefined : { uv: doc[0], pv: doc[1], deleted: doc[2] };
      },
      expected: async () => {
        const r = await db.query<{ uv: string | null; pv: string | null }>(
          `SELECT u.version::text AS uv, p.version::text AS pv FROM users u LEFT JOIN profiles p ON p.user_id = u.id
            WHERE u.id = $1`,
          [id],
        );
        const row = r.rows[0];
        return {
          uv: row?.uv ? rowVersion(row.uv) : null,
          pv: row?.pv ? rowVersion(row.pv) : null,
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
    );
  }
  for (const { id } of rooms) {
    checks.push({
      key: keys.roomMembers(id),
      read: async () => {
        const m = await members(keys.roomMembers(id));
        return m ? sorted([...m].map(([user, role]) => `${user}:${role}`)) : undefined;
      },
      expected: () => ids(`SELECT user_id::text || ':' || role::text AS v FROM room_members WHERE room_id = $1`, id),
    });
    // Redis holds the newest messages of the room, at most `recentMessages` (fewer after deletes within the window):
    // they must be exactly Postgres's newest as many, each at its current version
    checks.push({
      key: keys.roomRecent(id),
      read: async () => {
        const recent = await redis.zrange(keys.roomRecent(id), '0', '-1');
        if (recent.length === 0) return undefined;
        const bodies = await redis.hmget(keys.roomBodies(id), ...recent);
        return sorted(recent.map((m, i) => `${m}@${bodies[i]?.slice(0, 20) ?? 'no body'}`));
      },
      expected: async (found) => {
        const r = await db.query<{ v: string }>(
          `SELECT id::text || '@' || lpad(version::text, 20, '0') AS v FROM messages WHERE room_id = $1
            ORDER BY created_at DESC, id DESC LIMIT $2`,
          [id, Math.min((found as string[]).length, opts.recentMessages)],
        );
        return sorted(r.rows.map((row) => row.v));
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
  return { checked: checks.length, users: users.length, rooms: rooms.length, mismatches };
}
