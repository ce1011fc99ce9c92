/**
 * The guarded writes of the home feeds (`feed-lua.ts` holds the Lua and the guard rules): one script per write
 * shape, each on the four keys of one user (`feed-keys.ts`), so it runs on one Redis Cluster slot. Defined on a
 * client with `registerFeedScripts`; ioredis sends EVALSHA and falls back to EVAL, also inside pipelines.
 */
import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import type { FeedKeyspace } from './feed-keys.ts';
import { FEED_LUA } from './feed-lua.ts';

/** An entry the feed should hold: the status, its author, its score (`feed-score.ts`). */
export interface FeedEntry {
  statusId: string;
  authorId: string;
  score: number;
}

/** Keys first (feed, guards, lease, pulled authors of one user), then the arguments, as the Lua takes them. */
export interface FeedCommands<R> {
  feedAdd(...args: [...FeedKeys, statusId: string, member: string, score: number, sequence: string, cap: number]): R;
  feedRemove(...args: [...FeedKeys, statusId: string, member: string, sequence: string, cap: number]): R;
  feedReplaceAuthor(
    ...args: [...FeedKeys, author: string, sequence: string, cap: number, pull: string, ...rest: string[]]
  ): R;
  feedBuild(...args: [...FeedKeys, sequence: string, cap: number, expireAtMs: number, n: number, ...rest: string[]]): R;
  feedPull(...args: [...FeedKeys, author: string, sequence: string, value: string]): R;
  feedExpireAt(...args: [...FeedKeys, expireAtMs: number]): R;
}

type FeedKeys = [feed: string, guards: string, building: string, pulls: string];

export type FeedRedis = Redis & FeedCommands<Promise<number>>;
export type FeedCluster = Cluster & FeedCommands<Promise<number>>;
export type FeedPipeline = ChainableCommander & FeedCommands<ChainableCommander>;

export function registerFeedScripts(client: Redis): FeedRedis;
export function registerFeedScripts(client: Cluster): FeedCluster;
export function registerFeedScripts(client: Redis | Cluster): FeedRedis | FeedCluster {
  for (const [name, lua] of Object.entries(FEED_LUA)) {
    if (!(name in client)) client.defineCommand(name, { numberOfKeys: 4, lua });
  }
  return client as FeedRedis | FeedCluster;
}

/** The four keys of a user's feed, in the order every feed script takes them. */
export const feedKeysOf = (keys: FeedKeyspace, userId: string): FeedKeys => [
  keys.feed(userId),
  keys.guards(userId),
  keys.building(userId),
  keys.pulls(userId),
];

/**
 * The feed writes of one user (or of many users) queued on a pipeline. The commands are typed here once, so the
 * builder's code reads as what it does.
 */
export class FeedWrites {
  readonly #keys: FeedKeyspace;
  readonly #pipeline: FeedPipeline;
  readonly #cap: number;
  /** the kind of each queued write, in queue order (for the builder's metrics) */
  readonly kinds: ('add' | 'remove' | 'author' | 'pull' | 'expire')[] = [];

  constructor(client: FeedRedis, keys: FeedKeyspace, cap: number) {
    this.#keys = keys;
    this.#pipeline = client.pipeline() as FeedPipeline;
    this.#cap = cap;
  }

  get queued(): number {
    return this.kinds.length;
  }

  add(userId: string, e: FeedEntry, sequence: string): void {
    this.kinds.push('add');
    this.#pipeline.feedAdd(
      ...feedKeysOf(this.#keys, userId),
      e.statusId,
      `${e.statusId}:${e.authorId}`,
      e.score,
      sequence,
      this.#cap,
    );
  }

  remove(userId: string, statusId: string, authorId: string, sequence: string): void {
    this.kinds.push('remove');
    this.#pipeline.feedRemove(
      ...feedKeysOf(this.#keys, userId),
      statusId,
      `${statusId}:${authorId}`,
      sequence,
      this.#cap,
    );
  }

  /** The author's entries in the user's feed become `entries`; `pull` sets the author as pulled (`f`/`p`/`-`). */
  replaceAuthor(userId: string, authorId: string, entries: FeedEntry[], sequence: string, pull: string): void {
    this.kinds.push('author');
    const pairs = entries.flatMap((e) => [e.statusId, String(e.score)]);
    this.#pipeline.feedReplaceAuthor(...feedKeysOf(this.#keys, userId), authorId, sequence, this.#cap, pull, ...pairs);
  }

  pull(userId: string, authorId: string, sequence: string, value: 'f' | 'p' | '-'): void {
    this.kinds.push('pull');
    this.#pipeline.feedPull(...feedKeysOf(this.#keys, userId), authorId, sequence, value);
  }

  expireAt(userId: string, expireAtMs: number): void {
    this.kinds.push('expire');
    this.#pipeline.feedExpireAt(...feedKeysOf(this.#keys, userId), expireAtMs);
  }

  /** Replies in queue order; a refused write (a wrong key type, out of memory) fails the whole batch. */
  async exec(): Promise<number[]> {
    if (this.kinds.length === 0) return [];
    const results = (await this.#pipeline.exec()) ?? [];
    return results.map(([err, value]) => {
      if (err) throw err;
      return Number(value);
    });
  }
}

/** Builds a user's feed from a database snapshot (`FEED_LUA.feedBuild`); see `feed-lua.ts` for the merge rules. */
export function buildFeed(
  client: FeedRedis,
  keys: FeedKeyspace,
  userId: string,
  opts: { sequence: string; cap: number; expireAtMs: number; entries: FeedEntry[]; pulls: [string, 'f' | 'p'][] },
): Promise<number> {
  const triples = opts.entries.flatMap((e) => [e.statusId, e.authorId, String(e.score)]);
  return client.feedBuild(
    ...feedKeysOf(keys, userId),
    opts.sequence,
    opts.cap,
    opts.expireAtMs,
    opts.entries.length,
    ...triples,
    ...opts.pulls.flat(),
  );
}
