/**
 * The guarded writes of the projections, one Lua script per write shape (a script runs atomically, and every key it
 * touches is in KEYS and shares a hash tag, so it also runs on Redis Cluster). Versions are fixed-width strings
 * (`versions.ts`) compared as strings; a write older than what is stored is a no-op, so replaying events any number
 * of times, in any batch, leaves the same state.
 *
 * Shapes:
 *  - a document of versioned parts (a profile: the user row and the profile row, each with its own version); a
 *    deleted document is a tombstone (`deleted`) for a while, so a late older event or a cache-aside fill cannot
 *    bring it back;
 *  - a membership hash (member → `<sequence>|<value>` present, `<sequence>-` removed, newest sequence wins);
 *  - a capped list of recent messages: a sorted set of ids by time plus a hash of versioned bodies; a deleted
 *    message leaves `~` as its body so it never comes back.
 */
import type { ChainableCommander, Cluster, Redis } from 'ioredis';

const PUT_PART = `
if redis.call('HEXISTS', KEYS[1], 'deleted') == 1 then return 0 end
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and current >= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

const DELETE_DOCUMENT = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'deleted', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

const REMOVE_PART = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and current > ARGV[3] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`;

const SET_MEMBER = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and string.sub(current, 1, 30) >= ARGV[2] then return 0 end
if ARGV[3] == '-' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '-')
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
end
return 1`;

const ADD_MESSAGE = `
local current = redis.call('HGET', KEYS[2], ARGV[1])
if current and (current == '~' or string.sub(current, 1, 20) >= ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3] .. '|' .. ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local n = redis.call('ZCARD', KEYS[1])
local over = n - tonumber(ARGV[5])
if over > 0 then
  local old = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
  for _, id in ipairs(old) do redis.call('HDEL', KEYS[2], id) end
end
return 1`;

const DELETE_MESSAGE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], '~')
return 1`;

/** The scripts as commands of a client or a pipeline (`registerScripts` first). */
export interface ProjectionCommands<R> {
  /** Writes one part of a document if `version` is newer than the part's; refreshes the document's TTL. */
  putPart(key: string, versionField: string, payloadField: string, version: string, json: string, ttlMs: number): R;
  /** Replaces the document with a tombstone that lives `ttlMs`. */
  deleteDocument(key: string, ttlMs: number): R;
  /** Drops one part (its row was deleted) unless a newer version of it is stored. */
  removePart(key: string, versionField: string, payloadField: string, version: string): R;
  /** Sets (`value`) or removes (`'-'`) a member if `sequence` is newer than the member's. */
  setMember(key: string, member: string, sequence: string, value: string): R;
  /** Adds or updates a message body if newer, indexes it by `score`, keeps the newest `cap`. */
  addMessage(
    recentKey: string,
    bodiesKey: string,
    id: string,
    score: number,
    version: string,
    json: string,
    cap: number,
  ): R;
  /** Removes a message and leaves its tombstone. */
  deleteMessage(recentKey: string, bodiesKey: string, id: string): R;
}

export type ScriptedRedis = Redis & ProjectionCommands<Promise<number>>;
export type ScriptedCluster = Cluster & ProjectionCommands<Promise<number>>;
export type ScriptedPipeline = ChainableCommander & ProjectionCommands<ChainableCommander>;

/** Each command's script and how many of its arguments are keys (benchmarks load them by hand). */
export const SCRIPTS: Record<keyof ProjectionCommands<unknown>, { numberOfKeys: number; lua: string }> = {
  putPart: { numberOfKeys: 1, lua: PUT_PART },
  deleteDocument: { numberOfKeys: 1, lua: DELETE_DOCUMENT },
  removePart: { numberOfKeys: 1, lua: REMOVE_PART },
  setMember: { numberOfKeys: 1, lua: SET_MEMBER },
  addMessage: { numberOfKeys: 2, lua: ADD_MESSAGE },
  deleteMessage: { numberOfKeys: 2, lua: DELETE_MESSAGE },
};

/**
 * Defines the scripts on a client (ioredis sends EVALSHA and falls back to EVAL, also inside pipelines); on a
 * cluster each call is routed by its first key, which all of the script's keys share.
 */
export function registerScripts(client: Redis): ScriptedRedis;
export function registerScripts(client: Cluster): ScriptedCluster;
export function registerScripts(client: Redis | Cluster): ScriptedRedis | ScriptedCluster {
  for (const [name, script] of Object.entries(SCRIPTS)) {
    if (!(name in client)) client.defineCommand(name, script);
  }
  return client as ScriptedRedis | ScriptedCluster;
}

export function scriptedPipeline(redis: ScriptedRedis): ScriptedPipeline {
  return redis.pipeline() as ScriptedPipeline;
}

/** The members of a membership hash that are present, with their values. */
export function presentMembers(hash: Record<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [member, stored] of Object.entries(hash)) {
    if (stored.charAt(30) === '|') out.set(member, stored.slice(31));
  }
  return out;
}

/** The writes of one batch, queued, then sent together; results in queue order as `[error, value]`. */
export interface WriteBatch extends ProjectionCommands<unknown> {
  hdel(key: string, ...fields: string[]): unknown;
  exec(): Promise<[Error | null, unknown][]>;
}

/**
 * A batch of guarded writes for a single Redis (one pipeline) or a Redis Cluster. A cluster pipeline must keep to
 * one node, and a batch spans many slots, so on a cluster each write is its own command and ioredis's
 * autopipelining groups them per node (`enableAutoPipelining` on the Cluster client); each script still runs on one
 * slot, all its keys sharing a hash tag, and is routed by its first key.
 */
export function writeBatch(client: ScriptedRedis | ScriptedCluster): WriteBatch {
  if (!('isCluster' in client && client.isCluster)) return scriptedPipeline(client as ScriptedRedis) as WriteBatch;
  const cluster = client as ScriptedCluster;
  const results: Promise<[Error | null, unknown]>[] = [];
  const settle = (p: Promise<unknown>) =>
    results.push(
      p.then(
        (v): [null, unknown] => [null, v],
        (e: unknown): [Error, null] => [e as Error, null],
      ),
    );
  return {
    putPart: (...a) => settle(cluster.putPart(...a)),
    deleteDocument: (...a) => settle(cluster.deleteDocument(...a)),
    removePart: (...a) => settle(cluster.removePart(...a)),
    setMember: (...a) => settle(cluster.setMember(...a)),
    addMessage: (...a) => settle(cluster.addMessage(...a)),
    deleteMessage: (...a) => settle(cluster.deleteMessage(...a)),
    hdel: (key, ...fields) => settle(cluster.hdel(key, ...fields)),
    exec: () => Promise.all(results),
  };
}
