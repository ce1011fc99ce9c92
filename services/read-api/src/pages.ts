/**
 * Pages as the API answers them: `{ items, hasNext, next, totalEstimate }`, by keyset (`@bgc/queries` cursors,
 * never OFFSET). A first page can be served from a cache-aside entry that holds the first FIRST_PAGE_ROWS rows of
 * the list, so every page size up to that shares one entry, which one key per list lets an invalidation drop.
 * Later pages come from the database.
 */
import type { Cursor, CursorKind, Page } from '@bgc/queries/cursor';
import { CursorError, decodeCursor, encodeCursor } from '@bgc/queries/cursor';
import { estimateTotal } from '@bgc/queries/page';
import type { Query, Queryable } from '@bgc/queries/query';
import { ApiError } from '@bgc/http-api/api-error';
import type { ReadContext } from './read-context.ts';
import type { Services } from './services.ts';

/** Rows a cached first page holds: the largest page size. */
export const FIRST_PAGE_ROWS = 200;

export interface PageBody<T> {
  items: T[];
  hasNext: boolean;
  next: string | null;
  /** "about N": a planner estimate or a cached count, not an exact count */
  totalEstimate: number | null;
}

export type KeyedRow = { cursor_t: string; id: string };

/** A cursor from the query string, checked before any query runs: a bad one is a 400 on `cursor`. */
export function checkCursor(cursor: string | undefined, kind: CursorKind): void {
  if (cursor === undefined) return;
  try {
    decodeCursor(cursor, kind);
  } catch (err) {
    if (err instanceof CursorError) throw new ApiError(400, err.code, err.message, { field: 'cursor' });
    throw err;
  }
}

const keyOf = (r: KeyedRow): Cursor => ({ t: r.cursor_t, id: r.id });

/** The first `limit` rows of a longer first page. */
export function slicePage<R extends KeyedRow>(page: Page<R>, limit: number): Page<R> {
  if (page.items.length <= limit) return { items: page.items, hasNext: page.hasNext, next: page.next };
  const items = page.items.slice(0, limit);
  const last = items.at(-1);
  return { items, hasNext: true, next: last ? encodeCursor(keyOf(last)) : null };
}

/**
 * The first page of a list through cache-aside (when `enabled` and the request need not see its own write), else
 * from the database. Sets the request's Cache status.
 */
export async function firstPage<R extends KeyedRow>(
  services: Services,
  read: ReadContext,
  opts: {
    keyspace: string;
    key: string;
    enabled: boolean;
    limit: number;
    pageOf: (db: Queryable, limit: number) => Promise<Page<R>>;
  },
): Promise<Page<R>> {
  if (!opts.enabled || read.fresh) {
    services.lookup(opts.keyspace, 'bypass');
    read.cache = 'bypass';
    return opts.pageOf(await read.db(), opts.limit);
  }
  const found = await services.pages.get(opts.keyspace, opts.key, async () => ({
    value: await opts.pageOf(await read.db(), FIRST_PAGE_ROWS),
  }));
  read.cache = found.from === 'db' ? 'miss' : found.from === 'redis' ? 'hit' : 'l1';
  return slicePage(found.value ?? { items: [], hasNext: false, next: null }, opts.limit);
}

/** A planner estimate of a list's length, cached for minutes (it is an estimate). */
export async function estimated<P extends readonly unknown[]>(
  services: Services,
  read: ReadContext,
  query: Query<P, never>,
  params: P,
): Promise<number> {
  const found = await services.estimates.get('estimate', services.aside.estimate(query.name, params), async () => ({
    value: await estimateTotal(await read.db(), query, params),
  }));
  return found.value ?? 0;
}

export const pageBody = <R, T>(page: Page<R>, present: (r: R) => T, totalEstimate: number | null): PageBody<T> => ({
  items: page.items.map(present),
  hasNext: page.hasNext,
  next: page.next,
  totalEstimate,
});

/** A timestamp as ISO-8601 whether it came as a Date (the database) or a string (JSON from a cache). */
export const iso = (t: unknown): string | null =>
  t === null || t === undefined ? null : new Date(t as string | Date).toISOString();
