/**
 * A ranked front page in Redis: the top of a list whose entries move (a forum category's threads by last activity),
 * kept in step by the projector and trusted only as deep as it is known to be complete.
 *
 * The recent-messages list can be started by events alone because a new message always lands on top. Here an
 * event may concern any thread (a title edit of one from last year), so a list assembled from events would have
 * holes. Instead:
 *  - The list is created only by a fill: a complete read of the database's top N (`fillFront`, by the read API on
 *    a miss), stored with `~floor`, a member scored at the N-th entry's score: the list vouches for every entry
 *    scored above its floor (`-inf` when the category had fewer than N: it vouches for everything).
 *  - The projector keeps an existing list in step (`rankPut`, `rankDelete` in `lua.ts`): an entry moves, is added
 *    when it rises above the floor, leaves when it falls to or below it, and the floor rises when the list is
 *    trimmed to its cap. Bodies are versioned by the row's `version`; a deleted entry leaves `~`.
 *  - No stale fill: a fill takes a lease first (SET NX PX) and stores only while it still holds it and no list
 *    exists; an event that finds no list deletes the lease. An event the fill's read did not see therefore comes
 *    after the lease was taken (the read goes to the primary, so "committed" means "seen") and cancels the fill, as
 *    in `cache-aside.ts` (memcache's leases).
 */
import crypto from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/** The keys of one front page (the same hash tag: one Redis Cluster slot). */
export interface FrontKeys {
  list: string;
  bodies: string;
  lease: string;
}

export const FLOOR = '~floor';

// KEYS: list, bodies. ARGV: how many entries. → nil (no list) | {floor, {id, score, …}, {body or nil, …}}
const READ_FRONT = `
local floor = redis.call('ZSCORE', KEYS[1], '${FLOOR}')
if not floor then return false end
local top = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]), 'WITHSCORES')
local ids = {}
for i = 1, #top, 2 do
  if top[i] ~= '${FLOOR}' then ids[#ids + 1] = top[i] end
end
local bodies = {}
if #ids > 0 then bodies = redis.call('HMGET', KEYS[2], unpack(ids)) end
return {floor, top, bodies}`;

// KEYS: list, bodies, lease. ARGV: token, floor, ttlMs, then id, score, version, json per entry.
// → 1 filled | 0 the lease was lost (an event came) | -1 a list exists already
const FILL_FRONT = `
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[3])
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
redis.call('DEL', KEYS[2])
redis.call('ZADD', KEYS[1], ARGV[2], '${FLOOR}')
for i = 4, #ARGV, 4 do
  redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2] .. '|' .. ARGV[i + 3])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if #ARGV >= 4 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return 1`;

interface FrontCommands {
  readFront(list: string, bodies: string, count: string): Promise<[string, string[], (string | null)[]] | null>;
  fillFront(list: string, bodies: string, lease: string, ...args: string[]): Promise<number>;
}

/**
 * The scripts as commands of the client, defined on first use: ioredis then sends EVALSHA (the text only when Redis
 * does not know it yet) rather than the script's text with every read.
 */
function commands(redis: Redis | Cluster): FrontCommands {
  if (!('readFront' in redis)) {
    redis.defineCommand('readFront', { numberOfKeys: 2, lua: READ_FRONT });
    redis.defineCommand('fillFront', { numberOfKeys: 3, lua: FILL_FRONT });
  }
  return redis as unknown as FrontCommands;
}

/** Redis prints scores as `inf` / `-inf` for the infinities. */
const score = (s: string) => (s === '-inf' ? -Infinity : s === 'inf' ? Infinity : Number(s));

export interface FrontEntry {
  id: string;
  /** the rank, e.g. last activity in epoch milliseconds */
  score: number;
  /** the row's JSON, or null: missing (its hash was evicted) or deleted */
  json: string | null;
}

/** The list's top entries above its floor, best first, or undefined when no list is held. */
export async function readFront(
  redis: Redis | Cluster,
  keys: FrontKeys,
  count: number,
): Promise<{ floor: number; entries: FrontEntry[] } | undefined> {
  // count + 1: the floor may be among them
  const reply = await commands(redis).readFront(keys.list, keys.bodies, String(count));
  if (!reply) return undefined;
  const [floorText, top, bodies] = reply;
  const floor = score(floorText);
  const entries: FrontEntry[] = [];
  for (let i = 0, b = 0; i < top.length; i += 2) {
    const id = top[i] as string;
    if (id === FLOOR) continue;
    const s = score(top[i + 1] as string);
    const stored = bodies[b++] ?? null;
    // entries at or below the floor are held but not vouched for
    if (s <= floor) break;
    entries.push({
      id,
      score: s,
      json: stored === null || stored === '~' ? null : stored.slice(stored.indexOf('|') + 1),
    });
  }
  return { floor, entries };
}

/** Takes the fill's lease: a token when this caller is to fill, undefined when another caller holds it. */
export async function takeFrontLease(redis: Redis | Cluster, keys: FrontKeys, leaseMs: number) {
  const token = crypto.randomBytes(12).toString('base64url');
  return (await redis.set(keys.lease, token, 'PX', leaseMs, 'NX')) === 'OK' ? token : undefined;
}

export interface FillEntry {
  id: string;
  score: number;
  version: string;
  json: string;
}

/**
 * Stores a complete read of the top entries (best first, at most `capacity`); the floor is the last entry's score
 * when the read found `capacity` of them (more may exist below), else `-inf`. 1 filled, 0 lease lost, -1 a list
 * exists already.
 */
export async function fillFront(
  redis: Redis | Cluster,
  keys: FrontKeys,
  token: string,
  entries: readonly FillEntry[],
  opts: { capacity: number; ttlMs: number },
): Promise<number> {
  const last = entries.at(-1);
  const floor = entries.length >= opts.capacity && last ? String(last.score) : '-inf';
  const args = entries.flatMap((e) => [e.id, String(e.score), e.version, e.json]);
  return commands(redis).fillFront(keys.list, keys.bodies, keys.lease, token, floor, String(opts.ttlMs), ...args);
}
