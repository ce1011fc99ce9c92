/**
 * The home feed: `GET /v1/feed`, newest first, by keyset (an opaque cursor of the last item's time and id).
 *
 * Served from the feed builder's precomputed feed (the store Redis: a sorted set of ids, `@bgc/cache/feed-keys`)
 * merged with the recent posts of the high-follower authors the reader follows (pulled at read time, not fanned
 * out). Bodies come from the L1 and the cache (`status-bodies.ts`: versioned, refilled from the replica), authors'
 * names and images from the profile documents. The database answers (the spec's CTE on the replica, `homeFeed`) when:
 *  - the request carries a Commit-LSN (it must see its own write, which the feed may not have yet);
 *  - the reader has no feed: the first read takes the rebuild's lease and asks the builder for it, and the answer
 *    says `partial: true` until the feed is built (so "being built" is never shown as "empty");
 *  - the reader is not active (the builder does not keep their feed: `source: database`, not partial);
 *  - the page reaches past what the capped feed holds;
 *  - the store Redis does not answer.
 */
import { z } from 'zod';
import { feedKeyspace } from '@bgc/cache/feed-keys';
import type { FeedKeyspace } from '@bgc/cache/feed-keys';
import type { FeedPageRead } from '@bgc/cache/feed-page';
import { readFeedPage } from '@bgc/cache/feed-page';
import { microsToTime, newerFirst, parseFeedMember, timeToMicros } from '@bgc/cache/feed-score';
import { decodeCursor, encodeCursor } from '@bgc/queries/cursor';
import { homeFeed } from '@bgc/queries/page';
import type { AnyRoute } from '../http.ts';
import { pageQuery, route } from '../http.ts';
import { checkCursor } from '../pages.ts';
import type { ReadContext } from '../read-context.ts';
import type { Services } from '../services.ts';

/** How long a rebuild may take before another reader asks again (the builder's lease). */
const REBUILD_LEASE_MS = 30_000;
/** Posts read per pulled author: their list's length (FEED_AUTHOR_POSTS). */
const PULLED_POSTS = 200;

interface FeedItem {
  id: string;
  createdAt: string;
  author: { id: string; name: string | null; image: string | null };
  content: string;
  visibility: string;
}

interface FeedBody {
  items: FeedItem[];
  hasNext: boolean;
  next: string | null;
  /** the feed is being built: this page came from the database meanwhile; ask again shortly */
  partial: boolean;
  source: 'redis' | 'database';
}

type Body = Record<string, unknown>;

/** An entry of the merged timeline: where it sorts, whose it is, and its body when the list held it. */
interface Entry {
  micros: number;
  id: string;
  authorId: string;
  body?: Body;
}

const parseBody = (stored: string | null | undefined): Body | undefined =>
  stored ? (JSON.parse(stored) as Body) : undefined;

async function fromDatabase(read: ReadContext, cursor: string | null, limit: number) {
  const page = await homeFeed(await read.db(), read.viewerId, { cursor, limit });
  const items = page.items.map((r): FeedItem => ({
    id: r.id,
    createdAt: r.cursor_t,
    author: { id: r.author_id, name: r.author_name, image: r.author_image },
    content: r.content,
    visibility: r.visibility,
  }));
  return { items, hasNext: page.hasNext, next: page.next };
}

/**
 * The pulled authors' visible posts at or below `upper` (µs), merged into the page: each author's list, then their
 * bodies, as two pipelines (one write each) however many authors.
 */
async function pulledEntries(services: Services, keys: FeedKeyspace, pulls: Map<string, string>, upper: string) {
  const entries: Entry[] = [];
  if (pulls.size === 0) return entries;
  const authors = [...pulls];
  const lists = services.store.pipeline();
  for (const [authorId] of authors) {
    lists.zrange(keys.authorPosts(authorId), upper, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, PULLED_POSTS, 'WITHSCORES');
  }
  const posts = ((await lists.exec()) ?? []).map(([err, value]) => {
    if (err) throw err;
    return value as string[];
  });
  const bodies = services.store.pipeline();
  posts.forEach((p, a) => {
    const ids = p.filter((_, i) => i % 2 === 0);
    if (ids.length > 0) bodies.hmget(keys.authorPostBodies(authors[a]?.[0] ?? ''), ...ids);
  });
  const stored = ((await bodies.exec()) ?? []).map(([err, value]) => {
    if (err) throw err;
    return value as (string | null)[];
  });
  let b = 0;
  posts.forEach((p, a) => {
    if (p.length === 0) return;
    const [authorId, how] = authors[a] ?? ['', ''];
    const held = stored[b++] ?? [];
    for (let i = 0; i < p.length; i += 2) {
      const body = held[i / 2];
      if (!body || body === '~') continue; // deleted
      const parsed = parseBody(body.slice(body.indexOf('|') + 1));
      if (!parsed || (parsed.visibility !== 'PUBLIC' && how !== 'f')) continue;
      entries.push({ micros: Number(p[i + 1]), id: p[i] ?? '', authorId, body: parsed });
    }
  });
  return entries;
}

async function fromRedis(
  services: Services,
  read: ReadContext,
  prefix: string,
  cursor: { t: string; id: string } | null,
  limit: number,
  stored: Extract<FeedPageRead, { built: true }>,
) {
  const keys = feedKeyspace(prefix);
  const upperMicros = cursor ? timeToMicros(cursor.t) : Number.POSITIVE_INFINITY;
  const entries: Entry[] = stored.entries.map(({ member, micros }) => {
    const { statusId, authorId } = parseFeedMember(member);
    return { micros, id: statusId, authorId };
  });
  // the feed ran out below the page, and it once held older entries (trimmed at its cap): the database has them
  const truncated = entries.length < stored.want && stored.trimmed;
  for (const e of await pulledEntries(services, keys, stored.pulls, cursor ? String(upperMicros) : '+inf')) {
    entries.push(e);
  }
  const seen = new Set<string>();
  const merged = entries
    .filter((e) => !cursor || e.micros < upperMicros || (e.micros === upperMicros && e.id < cursor.id))
    .sort(newerFirst)
    .filter((e) => !seen.has(e.id) && seen.add(e.id));
  if (merged.length <= limit && truncated) return undefined;
  const page = merged.slice(0, limit + 1);
  await services.bodies.fill(read, page, services.flags.get('cache.status_bodies'));
  const authors = [...new Set(page.map((e) => e.authorId))];
  const mode = services.flags.get('cache.profile');
  const docs = new Map(
    (await Promise.all(authors.map((id) => services.profiles.get(read, id, mode)))).map(({ doc }, i) => [
      authors[i],
      doc,
    ]),
  );
  const items: FeedItem[] = [];
  let last: Entry | undefined;
  for (const e of page.slice(0, limit)) {
    last = e;
    const body = e.body ?? {};
    const author = docs.get(e.authorId);
    if (body.deleted || !author) continue; // deleted meanwhile; the builder removes it from the feed
    items.push({
      id: e.id,
      createdAt: microsToTime(e.micros),
      author: {
        id: e.authorId,
        name: (author.user.name as string | undefined) ?? null,
        image: (author.user.image as string | null | undefined) ?? null,
      },
      content: String(body.content),
      visibility: String(body.visibility),
    });
  }
  const hasNext = page.length > limit;
  // the cursor is the last entry read, shown or not, so the next page starts after it
  return { items, hasNext, next: hasNext && last ? encodeCursor({ t: microsToTime(last.micros), id: last.id }) : null };
}

/**
 * The reader's feed from the store (`readFeedPage`, one round trip): the page's entries when it is built; otherwise
 * not kept (inactive), or being built: the first reader to find it absent takes the lease and asks for it.
 */
async function storedFeed(
  services: Services,
  keys: FeedKeyspace,
  viewer: string,
  cursor: { t: string; id: string } | null,
  limit: number,
): Promise<FeedPageRead | 'building'> {
  const upper = cursor ? timeToMicros(cursor.t) : undefined;
  const stored = await readFeedPage(services.store, keys, viewer, {
    upper: upper === undefined ? '+inf' : String(upper),
    want: limit + 1,
    ...(upper === undefined ? {} : { tie: upper }),
  });
  if (stored.built || stored.inactive) return stored;
  const leased = await services.store.set(keys.building(viewer), String(Date.now()), 'PX', REBUILD_LEASE_MS, 'NX');
  if (leased === 'OK') await services.store.lpush(keys.rebuildRequests(), viewer);
  return 'building';
}

export const feedRoutes: AnyRoute[] = [
  route({
    method: 'get',
    path: '/v1/feed',
    summary:
      'Your home feed: your own, your friends’ and followed accounts’ status updates, newest first, by keyset (cursor)',
    query: z.strictObject(pageQuery),
    responses: {
      200: 'a page: items (each with its author’s name and image), hasNext, next, partial (true while your feed is being built), source',
    },
    handler: async ({ query, read, services }) => {
      checkCursor(query.cursor, 'time');
      const cursor = query.cursor ? decodeCursor(query.cursor, 'time') : null;
      const prefix = services.feedPrefix;
      const keys = feedKeyspace(prefix);
      // the store unreachable is not the reader's problem: the database answers (as for an inactive reader); any
      // other failure is a bug and is answered as one
      const unlessStoreDown = (err: unknown) => {
        if (services.store.status === 'ready') throw err;
        return undefined;
      };
      const stored = read.fresh
        ? 'fresh'
        : ((await storedFeed(services, keys, read.viewerId, cursor, query.limit).catch(unlessStoreDown)) ??
          'unavailable');
      if (typeof stored !== 'string' && stored.built) {
        const page = await fromRedis(services, read, prefix, cursor, query.limit, stored).catch(unlessStoreDown);
        services.lookup('feed', page ? 'hit' : 'miss');
        read.cache = page ? 'hit' : 'miss';
        if (page) return { body: { ...page, partial: false, source: 'redis' } satisfies FeedBody };
      } else {
        services.lookup('feed', stored === 'building' ? 'miss' : 'bypass');
        read.cache = stored === 'building' ? 'miss' : 'bypass';
      }
      const page = await fromDatabase(read, query.cursor ?? null, query.limit);
      return { body: { ...page, partial: stored === 'building', source: 'database' } satisfies FeedBody };
    },
  }),
];
