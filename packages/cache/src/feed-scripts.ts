/**
 * The guarded writes of the home feeds (`feed-lua.ts` holds the Lua and the guard rules): one script per write
 * shape, each on the four keys of one user (`feed-keys.ts`), so it runs on one Redis Cluster slot, but for the add,
 * which writes one entry into many users' feeds at once (the store is a single server). Defined on a client with
 * `registerFeedScripts`; ioredis sends EVALSHA and falls back to EVAL, also inside pipelines.
 */
import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import type { FeedKeyspace } from './feed-keys.ts';
import type { FeedShape } from './feed-lua.ts';
import { FEED_KEY_COUNT, FEED_LUA } from './feed-lua.ts';

/** An entry the feed should hold: the status, its author, its score (`feed-score.ts`). */
export interface FeedEntry {
  statusId: string;
  authorId: string;
  score: number;
}

/**
 * Keys first (feed, guards, lease, pulled authors of one user), then the arguments, as the Lua takes them; `feedAdd`
 * takes no keys: the entry, the shape of a user's keys (`feedKeyShape`), then the users.
 */
export interface FeedCommands<R> {
  feedAdd(
    ...args: [
      statusId: string,
      member: string,
      score: number,
      sequence: string,
      cap: number,
      ...shapeAndUsers: string[],
    ]
  ): R;
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
    if (!(name in client)) client.defineCommand(name, { numberOfKeys: FEED_KEY_COUNT[name as FeedShape], lua });
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
 * How `feedAdd` builds a user's keys: the feed's key before and after the user id, then the suffixes the guards', the
 * lease's and the pulled authors' keys add to the feed's (checked here, so the Lua follows `feed-keys.ts`).
 */
export function feedKeyShape(keys: FeedKeyspace): string[] {
  const marker = '\u0000'; // never in a user id nor in a prefix read from the environment
  const feed = keys.feed(marker);
  const at = feed.indexOf(marker);
  const suffixes = [keys.guards(marker), keys.building(marker), keys.pulls(marker)].map((k) => {
    if (!k.startsWith(feed)) throw new Error(`feed keys: ${k} does not extend ${feed}`);
    return k.slice(feed.length);
  });
  return [feed.slice(0, at), feed.slice(at + marker.length), ...suffixes];
}

/**
 * Users per `feedAdd` call at most: the per-call costs (the builder's command, Redis's script set-up) are shared by
 * this many adds, and one call holds Redis's one thread for a millisecond or two, which readers wait behind. Larger
 * calls saved no more of Redis's CPU (about 11 µs an add from 25 to 1,000 users a call, measured on a loaded
 * 2-core machine).
 */
export const ADD_BATCH = 100;

export type FeedWriteKind = 'add' | 'remove' | 'author' | 'pull' | 'expire';

/**
 * A queued command: its kind and how many feeds it writes to. Its reply counts the feeds it changed for an add, and
 * is above 0 when its one feed changed for the others.
 */
export interface FeedCommand {
  kind: FeedWriteKind;
  feeds: number;
}

/**
 * The feed writes of one user (or of many users) queued on a pipeline. The commands are typed here once, so the
 * builder's code reads as what it does. Adds of one entry with one sequence queued one after another (a post's
 * fan-out) leave as one `feedAdd` per `ADD_BATCH` users; every other write closes the batch first, so each feed
 * sees its writes in the order they were queued. Only on a single Redis server (`FeedRedis`), see `feed-lua.ts`.
 */
export class FeedWrites {
  readonly #keys: FeedKeyspace;
  readonly #pipeline: FeedPipeline;
  readonly #cap: number;
  readonly #shape: string[];
  /** the commands queued, in queue order (for the builder's metrics); complete once `exec` was called */
  readonly commands: FeedCommand[] = [];
  #feeds = 0;
  /** the add being gathered, sent when another write is queued, when it is full, or on exec */
  #open: { entry: FeedEntry; sequence: string; users: string[] } | undefined;

  constructor(client: FeedRedis, keys: FeedKeyspace, cap: number) {
    this.#keys = keys;
    this.#pipeline = client.pipeline() as FeedPipeline;
    this.#cap = cap;
    this.#shape = feedKeyShape(keys);
  }

  /** Feed writes queued (an add to n feeds counts n). */
  get queued(): number {
    return this.#feeds;
  }

  add(userId: string, e: FeedEntry, sequence: string): void {
    this.#feeds += 1;
    const open = this.#open;
    if (
      open &&
      open.users.length < ADD_BATCH &&
      open.sequence === sequence &&
      open.entry.statusId === e.statusId &&
      open.entry.authorId === e.authorId &&
      open.entry.score === e.score
    ) {
      open.users.push(userId);
      return;
    }
    this.#close();
    this.#open = { entry: e, sequence, users: [userId] };
  }

  #close(): void {
    const open = this.#open;
    if (!open) return;
    this.#open = undefined;
    const { entry: e, sequence, users } = open;
    this.commands.push({ kind: 'add', feeds: users.length });
    this.#pipeline.feedAdd(
      e.statusId,
      `${e.statusId}:${e.authorId}`,
      e.score,
      sequence,
      this.#cap,
      ...this.#shape,
      ...users,
    );
  }

  #one(kind: FeedWriteKind): void {
    this.#close();
    this.#feeds += 1;
    this.commands.push({ kind, feeds: 1 });
  }

  remove(userId: string, statusId: string, authorId: string, sequence: string): void {
    this.#one('remove');
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
    this.#one('author');
    const pairs = entries.flatMap((e) => [e.statusId, String(e.score)]);
    this.#pipeline.feedReplaceAuthor(...feedKeysOf(this.#keys, userId), authorId, sequence, this.#cap, pull, ...pairs);
  }

  pull(userId: string, authorId: string, sequence: string, value: 'f' | 'p' | '-'): void {
    this.#one('pull');
    this.#pipeline.feedPull(...feedKeysOf(this.#keys, userId), authorId, sequence, value);
  }

  expireAt(userId: string, expireAtMs: number): void {
    this.#one('expire');
    this.#pipeline.feedExpireAt(...feedKeysOf(this.#keys, userId), expireAtMs);
  }

  /**
   * Replies per command (`commands`), in queue order; a refused write (a wrong key type, out of memory) fails the
   * whole batch.
   */
  async exec(): Promise<number[]> {
    this.#close();
    if (this.commands.length === 0) return [];
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
