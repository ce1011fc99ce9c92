/**
 * The guarded writes of the projections, one Lua function per write shape (`lua.ts`), run either as a script of its
 * own per write (the commands below) or many to a script call (`writeBatch`). A script runs atomically, and every
 * key a write touches is in KEYS and shares a hash tag, so it also runs on Redis Cluster. Versions are fixed-width strings
 * (`versions.ts`) compared as strings; a write older than what is stored is a no-op, so replaying events any number
 * of times, in any batch, leaves the same state.
 *
 * Shapes:
 *  - a document of versioned parts (a profile: the user row and the profile row, each with its own version); a
 *    deleted document is a tombstone (`deleted`) for a while, so a late older event or a cache-aside fill cannot
 *    bring it back;
 *  - a membership hash (member → `<sequence>|<value>` present, `<sequence>-` removed, newest sequence wins);
 *  - a capped list of recent messages: a sorted set of ids by time plus a hash of versioned bodies; a deleted
 *    message leaves `~` as its body so it never comes back;
 *  - a ranked front page (a forum category's threads by last activity, `front-page.ts`): like the recent list, but
 *    an entry's rank changes, so the list is created only by a complete read of the database (the read API's fill,
 *    under a lease) and says how deep it is complete (`~floor`); events keep an existing list in step and, when
 *    there is none, take the lease away so that a fill which read before them stores nothing.
 */
import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import { SINGLE_WRITE_LUA } from './lua.ts';
import { batchedWrites } from './write-batch.ts';

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
  /**
   * Adds or updates a message body if newer, indexes it by `score`, keeps the newest `cap`. An `edit` of a message
   * the list does not hold is stored only if it falls within the list's span (not into an empty list, not below its
   * oldest entry): the list may have started after an eviction, and an old message stored in it would stand beside
   * new ones with the messages between them missing.
   */
  addMessage(
    recentKey: string,
    bodiesKey: string,
    id: string,
    score: number,
    version: string,
    json: string,
    cap: number,
    edit?: boolean,
  ): R;
  /** Removes a message and leaves its tombstone. */
  deleteMessage(recentKey: string, bodiesKey: string, id: string): R;
  /**
   * Adds, moves or updates an entry of an existing front page if newer (leaves it when it falls to or below the
   * floor), keeps the top `cap`; with no list, takes the fill's lease away.
   */
  rankPut(
    listKey: string,
    bodiesKey: string,
    leaseKey: string,
    id: string,
    score: number,
    version: string,
    json: string,
    cap: number,
  ): R;
  /** Removes an entry of an existing front page and leaves its tombstone; with no list, takes the lease away. */
  rankDelete(listKey: string, bodiesKey: string, leaseKey: string, id: string): R;
}

export type ScriptedRedis = Redis & ProjectionCommands<Promise<number>>;
export type ScriptedCluster = Cluster & ProjectionCommands<Promise<number>>;
export type ScriptedPipeline = ChainableCommander & ProjectionCommands<ChainableCommander>;

/** Each command's script and how many of its arguments are keys (benchmarks load them by hand). */
export const SCRIPTS: Record<keyof ProjectionCommands<unknown>, { numberOfKeys: number; lua: string }> = {
  putPart: { numberOfKeys: 1, lua: SINGLE_WRITE_LUA.putPart },
  deleteDocument: { numberOfKeys: 1, lua: SINGLE_WRITE_LUA.deleteDocument },
  removePart: { numberOfKeys: 1, lua: SINGLE_WRITE_LUA.removePart },
  setMember: { numberOfKeys: 1, lua: SINGLE_WRITE_LUA.setMember },
  addMessage: { numberOfKeys: 2, lua: SINGLE_WRITE_LUA.addMessage },
  deleteMessage: { numberOfKeys: 2, lua: SINGLE_WRITE_LUA.deleteMessage },
  rankPut: { numberOfKeys: 3, lua: SINGLE_WRITE_LUA.rankPut },
  rankDelete: { numberOfKeys: 3, lua: SINGLE_WRITE_LUA.rankDelete },
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

/** A pipeline with the scripts; on a cluster, every key it touches must share a slot (ioredis refuses it otherwise). */
export function scriptedPipeline(redis: ScriptedRedis | ScriptedCluster): ScriptedPipeline {
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
 * A batch of guarded writes, sent as few calls of the script that applies many (`APPLY_WRITES` in `lua.ts`;
 * `write-batch.ts`): on a single Redis the whole batch in queue order, a call per `WRITES_PER_CALL` writes; on a Redis
 * Cluster, where a script's keys must share a slot, a call per hash tag (every key of one write shares its tag), in
 * queue order within it, and ioredis's autopipelining groups the calls per node (`enableAutoPipelining` on the
 * Cluster client). Writes on different tags touch different keys, so only the order within a tag matters. Results
 * in queue order, as a pipeline's: a write's own reply, or its error (only that write failed).
 */
export function writeBatch(client: ScriptedRedis | ScriptedCluster): WriteBatch {
  return batchedWrites(client, 'isCluster' in client && client.isCluster);
}
