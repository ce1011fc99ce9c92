/**
 * What each change event does to the feeds, decided from the replica as it is now (it has replayed the event, see
 * `replica.ts`), written with the event's sequence as the guard (`@bgc/cache/feed-lua`):
 *  - status_updates: the body in the cache; the author's own feed; each active friend's and follower's feed (a
 *    FRIENDS post reaches friends only; an edit that hides it from a follower removes it there; a delete removes it
 *    everywhere). A pulled author's post goes to their own list instead (`pulled.ts`).
 *  - relationships: both sides' view of each other is recomputed (a follow or friendship backfills the author's
 *    recent posts, an unfollow, unfriend or block removes them), only for feeds that are kept.
 *  - users: a sign-in moves when the user's feed expires; a deactivated or deleted user's feed goes.
 * Deciding from the current state rather than from the event makes a replayed or duplicated event decide the same
 * thing again; the guards make an older decision lose to a newer one.
 */
import type pg from 'pg';
import { STATUS_BODY, statusBodyKey } from '@bgc/cache/feed-keys';
import type { FeedKeyspace } from '@bgc/cache/feed-keys';
import { timeToMicros } from '@bgc/cache/feed-score';
import type { FeedEntry, FeedRedis, FeedWrites } from '@bgc/cache/feed-scripts';
import type { KeyRecordingBatch } from '@bgc/cache/invalidation';
import type { ScriptedPipeline } from '@bgc/cache/scripts';
import { rowVersion } from '@bgc/cache/versions';
import type { ChangeEvent, Row } from '@bgc/events/envelope';
import { UNAVAILABLE } from '@bgc/events/envelope';
import type { AudienceRow, PostRow } from '@bgc/queries/feeds';
import type { PairRow } from '@bgc/queries/feeds';
import { authorRecentPosts, feedAudience, followerCountCapped, pairRelations } from '@bgc/queries/feeds';
import { run } from '@bgc/queries/query';
import type { FeedSettings } from './config.ts';
import type { PulledAuthors } from './pulled.ts';

export const FEED_TABLES = ['status_updates', 'relationships', 'users'] as const;
export type FeedTable = (typeof FEED_TABLES)[number];

/** An event the builder cannot use (a column missing or malformed); it is logged and skipped. */
export class UnusableEvent extends Error {
  readonly code = 'EVENT_UNUSABLE';
  readonly table: string;
  constructor(table: string, reason: string) {
    super(`${table}: ${reason}`);
    this.name = 'UnusableEvent';
    this.table = table;
  }
}

/** The writes of one chunk: feeds (store), pulled authors' lists (store), status bodies (cache). */
export interface ChunkWrites {
  feeds: FeedWrites;
  posts: ScriptedPipeline;
  /**
   * each body has a hash tag of its own: a batch that makes a script call per tag on a cluster (a pipeline across
   * slots is refused there), and few calls for them all on one server; it records the keys, whose changes are
   * published to the read APIs' L1s
   */
  bodies: KeyRecordingBatch;
}

const text = (table: string, row: Row, column: string): string => {
  const value = row[column];
  if (typeof value !== 'string' || value === '' || value === UNAVAILABLE) {
    throw new UnusableEvent(table, `column ${column} is missing or not text`);
  }
  return value;
};

/**
 * A read kept for the rest of the chunk may fail before anyone awaits it (the chunk failed on another): its failure
 * is the awaiter's to handle, not an unhandled rejection.
 */
const handledWhereAwaited = () => undefined;

/** How a viewer sees an author: `pairRelations`'s answer for one pair. */
type Relation = Pick<PairRow, 'sees' | 'friend'>;
const NOT_SEEN: Relation = Object.freeze({ sees: false, friend: false });
/** pairs per relations query: a chunk's (FEED_PIPELINE_EVENTS, two sides each) in one or two */
const RELATIONS_PER_QUERY = 500;

const jitter = (ms: number) => Math.round(ms * (0.9 + Math.random() * 0.2));

export const postEntry = (p: { id: string; author_id: string; cursor_t: string }): FeedEntry => ({
  statusId: p.id,
  authorId: p.author_id,
  score: timeToMicros(p.cursor_t),
});

/** A post as the bodies hold it: the CDC event's row (the same fields whether it came from Kafka or the replica). */
export const postBody = (p: PostRow) =>
  JSON.stringify({
    id: p.id,
    created_at: p.created_at,
    author_id: p.author_id,
    content: p.content,
    visibility: p.visibility,
    updated_at: p.updated_at,
    version: Number(p.version),
  });

export class Fanout {
  readonly #db: pg.Pool;
  readonly #store: FeedRedis;
  readonly #keys: FeedKeyspace;
  readonly #prefix: string;
  readonly #settings: FeedSettings;
  readonly #pulled: PulledAuthors;
  /** per chunk: an author's audience and follower count are read once however many of their events it holds */
  #audiences = new Map<string, Promise<AudienceRow[]>>();
  #counts = new Map<string, Promise<number>>();
  /** per chunk: whether a user's feed is kept, a viewer's relation to an author, an author's posts */
  #kept = new Map<string, Promise<boolean>>();
  #relations = new Map<string, Promise<Relation>>();
  #posts = new Map<string, Promise<PostRow[]>>();

  constructor(deps: {
    db: pg.Pool;
    store: FeedRedis;
    keys: FeedKeyspace;
    prefix: string;
    settings: FeedSettings;
    pulled: PulledAuthors;
  }) {
    this.#db = deps.db;
    this.#store = deps.store;
    this.#keys = deps.keys;
    this.#prefix = deps.prefix;
    this.#settings = deps.settings;
    this.#pulled = deps.pulled;
  }

  /** Forgets what the last chunk read: the next one reads the replica again. */
  newChunk(): void {
    this.#audiences = new Map();
    this.#counts = new Map();
    this.#kept = new Map();
    this.#relations = new Map();
    this.#posts = new Map();
  }

  async apply(table: FeedTable, event: ChangeEvent, sequence: string, w: ChunkWrites): Promise<void> {
    if (table === 'status_updates') return this.#status(event, sequence, w);
    if (table === 'relationships') return this.#relationship(event, sequence, w);
    this.#user(event, w);
  }

  #window() {
    const now = Date.now();
    return { since: new Date(now - this.#settings.windowMs), until: new Date(now + 60_000) };
  }

  #audience(authorId: string): Promise<AudienceRow[]> {
    let found = this.#audiences.get(authorId);
    if (!found) {
      found = run(this.#db, feedAudience, [authorId, new Date(Date.now() - this.#settings.activeMs)]);
      this.#audiences.set(authorId, found);
    }
    return found;
  }

  #followers(authorId: string): Promise<number> {
    let count = this.#counts.get(authorId);
    if (!count) {
      const cap = this.#settings.pullThreshold + 1;
      count = run(this.#db, followerCountCapped, [authorId, cap]).then((rows) => rows[0]?.n ?? 0);
      this.#counts.set(authorId, count);
    }
    return count;
  }

  /**
   * Starts the reads a chunk's status updates need, every author's at once (the pool bounds how many run): the chunk
   * then waits about as long as its slowest read instead of the sum of them. A failed read fails the chunk when
   * `apply` awaits it.
   */
  prefetch(table: FeedTable, events: ChangeEvent[]): void {
    if (table === 'relationships') return this.#prefetchRelationships(events);
    if (table !== 'status_updates') return;
    for (const e of events) {
      const author = (e.after ?? e.before)?.author_id;
      if (typeof author !== 'string' || author === UNAVAILABLE) continue;
      // a pulled author's new post reaches no feed: their (large) audience is read only for an edit or a delete
      if (this.#pulled.has(author)) {
        if (e.op === 'u' || e.op === 'd') this.#audience(author).catch(handledWhereAwaited);
        continue;
      }
      this.#followers(author).catch(handledWhereAwaited);
      this.#audience(author).catch(handledWhereAwaited);
    }
  }

  /** Whether the author is pulled; an author found above the threshold is registered and their audience told. */
  async #isPulled(authorId: string, sequence: string, w: ChunkWrites): Promise<boolean> {
    if (this.#pulled.has(authorId)) return true;
    if ((await this.#followers(authorId)) <= this.#settings.pullThreshold) return false;
    if (!(await this.#pulled.register(authorId))) return true;
    // their recent posts start the list their audience merges, and their entries leave the audience's feeds (the
    // list is where they are read from now)
    const posts = await this.#recentPosts(authorId, true, this.#settings.authorPosts);
    for (const p of posts) this.#queuePost(w, p.author_id, p.id, timeToMicros(p.cursor_t), p.version, postBody(p));
    for (const a of await this.#audience(authorId)) {
      w.feeds.replaceAuthor(a.user_id, authorId, [], sequence, a.friend ? 'f' : 'p');
    }
    return true;
  }

  #queuePost(w: ChunkWrites, authorId: string, id: string, score: number, version: unknown, json: string) {
    w.posts.addMessage(
      this.#keys.authorPosts(authorId),
      this.#keys.authorPostBodies(authorId),
      id,
      score,
      rowVersion(version),
      json,
      this.#settings.authorPosts,
    );
  }

  async #status(event: ChangeEvent, sequence: string, w: ChunkWrites): Promise<void> {
    const t = 'status_updates';
    const present = event.op !== 'd';
    const row = present ? event.after : event.before;
    if (!row) throw new UnusableEvent(t, `op ${event.op} without its row`);
    const id = text(t, row, 'id');
    const authorId = text(t, row, 'author_id');
    let score: number;
    try {
      score = timeToMicros(text(t, row, 'created_at'));
    } catch (err) {
      throw new UnusableEvent(t, (err as Error).message);
    }
    const entry: FeedEntry = { statusId: id, authorId, score };
    const bodyKey = statusBodyKey(this.#prefix, id);
    const { versionField, payloadField } = STATUS_BODY;
    if (present) {
      const json = JSON.stringify(row);
      const version = rowVersion(row.version);
      w.bodies.putPart(bodyKey, versionField, payloadField, version, json, jitter(this.#settings.bodyTtlMs));
      w.feeds.add(authorId, entry, sequence);
    } else {
      w.bodies.deleteDocument(bodyKey, this.#settings.tombstoneTtlMs);
      w.feeds.remove(authorId, id, authorId, sequence);
    }
    const pulled = await this.#isPulled(authorId, sequence, w);
    if (pulled) {
      const posts = this.#keys.authorPosts(authorId);
      const bodies = this.#keys.authorPostBodies(authorId);
      if (present) this.#queuePost(w, authorId, id, score, row.version, JSON.stringify(row));
      else w.posts.deleteMessage(posts, bodies, id);
      // merged at read time; only an edit or a delete may still touch entries from before the author was pulled
      if (event.op === 'c' || event.op === 'r') return;
    }
    const everyone = row.visibility === 'PUBLIC';
    for (const a of await this.#audience(authorId)) {
      if (present && (a.friend || everyone)) {
        if (!pulled) w.feeds.add(a.user_id, entry, sequence);
      } else {
        w.feeds.remove(a.user_id, id, authorId, sequence);
      }
    }
  }

  /**
   * Starts the reads a chunk's relationship changes need, all at once as for status updates: whose feeds are kept
   * (one pipeline), then every kept side's relation to the other (one query for the chunk), then the posts each one
   * sees. A burst of follows (a popular user joins) then costs a few reads, not round trips one after another per
   * event. Each read is of the replica as it is now, as `#relationship` would read it: the same pair in two events
   * of the chunk reads the same.
   */
  #prefetchRelationships(events: ChangeEvent[]): void {
    const pairs = new Map<string, [viewer: string, author: string]>();
    for (const e of events) {
      const row = e.after ?? e.before;
      const from = row?.from_user_id;
      const to = row?.to_user_id;
      if (typeof from !== 'string' || typeof to !== 'string' || from === UNAVAILABLE || to === UNAVAILABLE) continue;
      for (const [viewer, author] of [
        [from, to],
        [to, from],
      ] as const) {
        const key = `${viewer} ${author}`;
        if (!this.#relations.has(key)) pairs.set(key, [viewer, author]);
      }
    }
    if (pairs.size === 0) return;
    this.#askKept([...pairs.values()].map(([viewer]) => viewer));
    const found = (async () => {
      const asked = [...pairs.values()];
      const kept = await Promise.all(asked.map(([viewer]) => this.#isKept(viewer)));
      const wanted = asked.filter((_, i) => kept[i]);
      const seen = new Map<string, Relation>();
      for (let i = 0; i < wanted.length; i += RELATIONS_PER_QUERY) {
        const part = wanted.slice(i, i + RELATIONS_PER_QUERY);
        const rows = await run(this.#db, pairRelations, [part.map(([v]) => v), part.map(([, a]) => a)]);
        for (const r of rows) seen.set(`${r.viewer_id} ${r.author_id}`, { sees: r.sees, friend: r.friend });
      }
      return seen;
    })();
    found.catch(handledWhereAwaited);
    for (const [key, [, author]] of pairs) {
      // a pair of a feed not kept is never asked for (`#relationship` skips it); one kept has its row
      const rel = found.then((seen) => seen.get(key) ?? NOT_SEEN);
      rel.catch(handledWhereAwaited);
      this.#relations.set(key, rel);
      void rel
        .then(async ({ sees, friend }) => {
          // a side whose feed is not kept has no row, so it does not see the author here
          if (sees && !this.#pulled.has(author)) await this.#recentPosts(author, friend, this.#settings.cap);
        })
        .catch(handledWhereAwaited);
    }
  }

  async #relationship(event: ChangeEvent, sequence: string, w: ChunkWrites): Promise<void> {
    const t = 'relationships';
    const row = event.after ?? event.before;
    if (!row) throw new UnusableEvent(t, `op ${event.op} without a row`);
    const from = text(t, row, 'from_user_id');
    const to = text(t, row, 'to_user_id');
    this.#askKept([from, to]);
    for (const [viewer, author] of [
      [from, to],
      [to, from],
    ] as const) {
      // nothing to recompute for a feed not kept: it is rebuilt when its owner reads it
      if (!(await this.#isKept(viewer))) continue;
      const { sees, friend } = await this.#relation(viewer, author);
      if (this.#pulled.has(author)) {
        w.feeds.replaceAuthor(viewer, author, [], sequence, sees ? (friend ? 'f' : 'p') : '-');
        continue;
      }
      const posts = sees ? await this.#recentPosts(author, friend, this.#settings.cap) : [];
      w.feeds.replaceAuthor(viewer, author, posts.map(postEntry), sequence, '');
    }
  }

  /** How `viewer` sees `author` now (read once per chunk, with the chunk's others when prefetched). */
  #relation(viewer: string, author: string): Promise<Relation> {
    const key = `${viewer} ${author}`;
    let found = this.#relations.get(key);
    if (!found) {
      found = run(this.#db, pairRelations, [[viewer], [author]]).then(([rel]) => rel ?? NOT_SEEN);
      found.catch(handledWhereAwaited);
      this.#relations.set(key, found);
    }
    return found;
  }

  /**
   * An author's newest posts: within the window, or further back when the window holds fewer than `limit` (read
   * once per chunk).
   */
  #recentPosts(authorId: string, friendsToo: boolean, limit: number): Promise<PostRow[]> {
    const key = `${authorId} ${friendsToo} ${limit}`;
    let found = this.#posts.get(key);
    if (!found) {
      const { since, until } = this.#window();
      found = run(this.#db, authorRecentPosts, [authorId, friendsToo, since, until, limit]).then((recent) =>
        recent.length >= limit
          ? recent
          : run(this.#db, authorRecentPosts, [authorId, friendsToo, '-infinity', until, limit]),
      );
      found.catch(handledWhereAwaited);
      this.#posts.set(key, found);
    }
    return found;
  }

  /** Asks whether these users' feeds are kept (built, or being built), in one pipeline for those not asked yet. */
  #askKept(userIds: string[]): void {
    const ask = [...new Set(userIds)].filter((id) => !this.#kept.has(id));
    if (ask.length === 0) return;
    const p = this.#store.pipeline();
    for (const id of ask) p.hexists(this.#keys.guards(id), '@built').exists(this.#keys.building(id));
    const replies = p.exec();
    ask.forEach((id, i) => {
      const kept = replies.then((r) => r?.[2 * i]?.[1] === 1 || r?.[2 * i + 1]?.[1] === 1);
      kept.catch(handledWhereAwaited);
      this.#kept.set(id, kept);
    });
  }

  #isKept(userId: string): Promise<boolean> {
    this.#askKept([userId]);
    return this.#kept.get(userId) ?? Promise.resolve(false);
  }

  #user(event: ChangeEvent, w: ChunkWrites): void {
    const t = 'users';
    const row = event.after ?? event.before;
    if (!row) throw new UnusableEvent(t, `op ${event.op} without a row`);
    const id = text(t, row, 'id');
    if (event.op === 'd' || row.is_active === false) {
      w.feeds.expireAt(id, 1);
      return;
    }
    const times = [row.last_active_at, row.created_at]
      .filter((v): v is string => typeof v === 'string' && v !== UNAVAILABLE)
      .map((v) => Date.parse(v))
      .filter((ms) => !Number.isNaN(ms));
    if (times.length === 0) return;
    w.feeds.expireAt(id, Math.max(...times) + this.#settings.activeMs);
  }
}
