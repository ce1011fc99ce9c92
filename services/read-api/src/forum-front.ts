/**
 * A forum category's first page from the front page the projector keeps in step (`@bgc/cache/front-page`): its
 * threads by last activity, each as its latest row, trusted down to the list's floor. When the list is missing, or
 * cannot answer this page exactly (too shallow, a body evicted, too many ties at the boundary), the page comes from
 * the database and, when no list is held, the caller that wins the lease fills it from the primary: a fill must
 * not miss a change the projector has already applied, and the replica may lag behind the primary.
 *
 * Redis ranks by milliseconds, the database by microseconds and then id: entries are re-sorted by the exact key,
 * after reading a few more than needed (as the history pages do, `history.ts`).
 */
import type { FrontEntry, FrontKeys } from '@bgc/cache/front-page';
import { fillFront, readFront, takeFrontLease } from '@bgc/cache/front-page';
import { FRONT_PAGE_THREADS } from '@bgc/cache/projections';
import { rowVersion } from '@bgc/cache/versions';
import type { Page } from '@bgc/queries/cursor';
import { encodeCursor } from '@bgc/queries/cursor';
import { forumCategory } from '@bgc/queries/page';
import type { ThreadRow } from '@bgc/queries/queries';
import { forumFrontRows } from '@bgc/queries/queries';
import { run } from '@bgc/queries/query';
import { micros } from './history.ts';
import type { ReadContext } from './read-context.ts';
import type { Services } from './services.ts';

/** Entries read beyond `limit + 1`, for ties within a millisecond. */
const EXTRA = 10;
/** How long one caller may take to fill a missing front page before another may. */
const LEASE_MS = 2_000;
/** A filled front page's lifetime: refilled from the database now and then, whatever happened to it. */
const FRONT_TTL_MS = 10 * 60_000;

interface Body {
  id: string;
  title: string;
  author_id: string;
  post_count: number;
  last_post_at: string;
  created_at: string;
}

const frontKeys = (services: Services, categoryId: string): FrontKeys => ({
  list: services.keys.forumFront(categoryId),
  bodies: services.keys.forumFrontBodies(categoryId),
  lease: services.keys.forumFrontLease(categoryId),
});

/** The first page of a category's threads. Sets the request's Cache status. */
export async function forumFirstPage(
  services: Services,
  read: ReadContext,
  categoryId: string,
  limit: number,
): Promise<Page<ThreadRow>> {
  const keys = frontKeys(services, categoryId);
  // Redis failed (null): answer from the database, fill nothing
  const held = await readFront(services.redis, keys, limit + 1 + EXTRA).catch(() => null);
  const page = held ? await fromFront(services, read, held.entries, held.floor, limit) : undefined;
  if (page === 'repair') {
    // too shallow for this page, or a body evicted without its list: drop it, so that the next read refills it
    await services.redis.del(keys.list, keys.bodies).catch(() => 0);
  } else if (page) {
    services.lookup('forum', 'hit');
    read.cache = 'hit';
    return page;
  }
  services.lookup('forum', 'miss');
  read.cache = 'miss';
  const token =
    held === undefined ? await takeFrontLease(services.redis, keys, LEASE_MS).catch(() => undefined) : undefined;
  if (token === undefined) return forumCategory(await read.db(), categoryId, { limit });
  // the holder reads the top from the primary and fills; its page comes from what it read
  const { db } = await services.routing.choose(undefined, true);
  const rows = await run(db, forumFrontRows, [categoryId, FRONT_PAGE_THREADS]);
  const entries = rows.map((r) => ({ id: r.id, score: Number(r.score), version: rowVersion(r.version), json: r.json }));
  await fillFront(services.redis, keys, token, entries, { capacity: FRONT_PAGE_THREADS, ttlMs: FRONT_TTL_MS }).catch(
    () => 0,
  );
  const all = await present(
    services,
    read,
    rows.map((r) => JSON.parse(r.json) as Body),
  );
  if (!all) return forumCategory(await read.db(), categoryId, { limit });
  return pageOf(all, limit, rows.length < FRONT_PAGE_THREADS);
}

/**
 * The page from the held list; undefined when it cannot answer exactly this time, 'repair' when it cannot until it
 * is filled again.
 */
async function fromFront(
  services: Services,
  read: ReadContext,
  entries: FrontEntry[],
  floor: number,
  limit: number,
): Promise<Page<ThreadRow> | 'repair' | undefined> {
  const want = limit + 1;
  const complete = floor === -Infinity; // the category has no more threads than the list holds
  // deletions and threads that fell below the floor thinned it out (a trim keeps it full)
  if (entries.length < want && !complete) return 'repair';
  const bodies: Body[] = [];
  for (const e of entries) {
    if (e.json === null) return 'repair';
    bodies.push(JSON.parse(e.json) as Body);
  }
  const sorted = sortExact(bodies);
  const boundary = sorted[Math.min(want, sorted.length) - 1];
  const lowest = entries.at(-1)?.score;
  // the list may hold more than was read (it read `want + EXTRA` and the floor, or one more when the floor was not
  // among them); those score at most `lowest`, so they cannot belong in the page if the page ends above it
  const readAll = entries.length >= want + EXTRA;
  if (readAll && boundary && lowest !== undefined && Date.parse(boundary.last_post_at) <= lowest) return undefined;
  const rows = await present(services, read, sorted.slice(0, want));
  return rows && pageOf(rows, limit, complete && !readAll);
}

const sortExact = (bodies: Body[]) =>
  bodies
    .map((b) => ({ b, t: micros(b.last_post_at) }))
    .sort((x, y) => (x.t === y.t ? (x.b.id < y.b.id ? 1 : -1) : x.t < y.t ? 1 : -1))
    .map(({ b }) => b);

/**
 * Bodies, in page order already, as the page query's rows with their authors' names (profile documents), or
 * undefined if one is gone.
 */
async function present(services: Services, read: ReadContext, bodies: Body[]): Promise<ThreadRow[] | undefined> {
  const authorIds = [...new Set(bodies.map((b) => b.author_id))];
  const mode = services.flags.get('cache.profile');
  const docs = await Promise.all(authorIds.map((id) => services.profiles.get(read, id, mode)));
  const names = new Map<string, string>();
  docs.forEach(({ doc }, i) => {
    if (doc) names.set(authorIds[i] ?? '', String(doc.user.name));
  });
  const rows: ThreadRow[] = [];
  for (const b of bodies) {
    const name = names.get(b.author_id);
    if (name === undefined) return undefined; // an author the database would not join (deleted): let it answer
    const t = micros(b.last_post_at);
    rows.push({
      id: b.id,
      title: b.title,
      author_id: b.author_id,
      author_name: name,
      post_count: b.post_count,
      last_post_at: new Date(t),
      cursor_t: t,
      created_at: new Date(b.created_at),
    });
  }
  return rows;
}

/** The first `limit` rows as a page; `last`: nothing exists beyond `rows`. */
function pageOf(rows: ThreadRow[], limit: number, last: boolean): Page<ThreadRow> {
  const items = rows.slice(0, limit);
  const hasNext = rows.length > limit || !last;
  const end = items.at(-1);
  return {
    items,
    hasNext: hasNext && end !== undefined,
    next: hasNext && end ? encodeCursor({ t: end.cursor_t, id: end.id }) : null,
  };
}
