/**
 * Pages of the production queries as an API serves them: decode and validate the cursor, fetch limit + 1 rows,
 * return { items, hasNext, next }. History lists (chat, DMs, the home feed) are read in time windows: first the
 * window just below the cursor (one or two partitions), and only when it holds less than a page a wider one,
 * finally without a lower bound, so a quiet room costs a few cheap round trips and a busy one exactly one.
 */
import type { Cursor, Page } from './cursor.ts';
import { cursorMs, decodeCursor, FIRST_ASC, FIRST_DESC, toPage } from './cursor.ts';
import type { FeedRow, FriendRow, MessageRow, PersonRow, ThreadRow } from './queries.ts';
import { run, type Query, type Queryable } from './query.ts';
import * as q from './queries.ts';
import { followersPage, followingPage } from './people.ts';

const DAY = 86_400_000;
/** Windows tried in turn below the cursor: a month, a year, everything. */
export const HISTORY_WINDOWS = [31 * DAY, 366 * DAY, Infinity] as const;
/** The feed looks back two weeks first (a few weekly partitions per author), then a quarter, then everything. */
export const FEED_WINDOWS = [14 * DAY, 91 * DAY, Infinity] as const;
/** A first page reads up to now plus this, for rows stamped by a writer whose clock runs a little ahead. */
const CLOCK_SKEW_MS = 60_000;

export interface PageOptions {
  cursor?: string | null;
  limit?: number;
  /** The clock for first pages (tests pin it). */
  now?: Date;
}

const limitOf = (o: PageOptions) => o.limit ?? 50;

async function windowed<R>(
  windows: readonly number[],
  upperMs: number,
  want: number,
  fetch: (since: Date | string) => Promise<R[]>,
): Promise<R[]> {
  let rows: R[] = [];
  for (const w of windows) {
    rows = await fetch(w === Infinity ? '-infinity' : new Date(upperMs - w));
    if (rows.length >= want) break;
  }
  return rows;
}

const timeKey = (r: { cursor_t: string; id: string }): Cursor => ({ t: r.cursor_t, id: r.id });

/** Chat history of a room or a conversation, newest first. */
export async function history(
  db: Queryable,
  on: 'room' | 'conversation',
  id: string,
  opts: PageOptions = {},
): Promise<Page<MessageRow>> {
  const limit = limitOf(opts);
  const cursor = opts.cursor ? decodeCursor(opts.cursor, 'time') : null;
  const upper = cursor ? cursorMs(cursor) : (opts.now ?? new Date()).getTime() + CLOCK_SKEW_MS;
  const [first, after] =
    on === 'room' ? [q.roomHistoryFirst, q.roomHistoryAfter] : [q.conversationHistoryFirst, q.conversationHistoryAfter];
  const rows = await windowed(HISTORY_WINDOWS, upper, limit + 1, (since) =>
    cursor
      ? run(db, after, [id, cursor.t, cursor.id, limit + 1, since])
      : run(db, first, [id, limit + 1, since, new Date(upper)]),
  );
  return toPage(rows, limit, timeKey);
}

/** The home feed: own, friends' and followed accounts' status updates, newest first. */
export async function homeFeed(db: Queryable, userId: string, opts: PageOptions = {}): Promise<Page<FeedRow>> {
  const limit = limitOf(opts);
  const cursor = opts.cursor
    ? decodeCursor(opts.cursor, 'time')
    : { t: new Date((opts.now ?? new Date()).getTime() + CLOCK_SKEW_MS).toISOString(), id: FIRST_DESC.id };
  const rows = await windowed(FEED_WINDOWS, cursorMs(cursor), limit + 1, (since) =>
    run(db, q.homeFeedPage, [userId, cursor.t, cursor.id, limit + 1, since]),
  );
  return toPage(rows, limit, timeKey);
}

export async function friends(db: Queryable, userId: string, opts: PageOptions = {}): Promise<Page<FriendRow>> {
  const limit = limitOf(opts);
  const c = opts.cursor ? decodeCursor(opts.cursor, 'time') : FIRST_DESC;
  return toPage(await run(db, q.friendsPage, [userId, c.t, c.id, limit + 1]), limit, timeKey);
}

/** Accounts following a user (`side: 'followers'`) or followed by them, newest follow first. */
export async function follows(
  db: Queryable,
  side: 'followers' | 'following',
  userId: string,
  opts: PageOptions = {},
): Promise<Page<FriendRow>> {
  const limit = limitOf(opts);
  const c = opts.cursor ? decodeCursor(opts.cursor, 'time') : FIRST_DESC;
  const page = side === 'followers' ? followersPage : followingPage;
  return toPage(await run(db, page, [userId, c.t, c.id, limit + 1]), limit, timeKey);
}

export async function forumCategory(
  db: Queryable,
  categoryId: string,
  opts: PageOptions = {},
): Promise<Page<ThreadRow>> {
  const limit = limitOf(opts);
  const c = opts.cursor ? decodeCursor(opts.cursor, 'time') : FIRST_DESC;
  return toPage(await run(db, q.forumCategoryPage, [categoryId, c.t, c.id, limit + 1]), limit, timeKey);
}

const textKey = (r: PersonRow): Cursor => ({ t: r.cursor_t, id: r.id });

export async function peopleByInterest(db: Queryable, interest: string, opts: PageOptions = {}) {
  const limit = limitOf(opts);
  const c = opts.cursor ? decodeCursor(opts.cursor, 'text') : FIRST_ASC;
  const rows = await run(db, q.searchByInterest, [JSON.stringify([interest]), c.id, limit + 1]);
  return toPage(rows, limit, textKey);
}

export async function peopleByPlace(db: Queryable, state: string, city: string | null, opts: PageOptions = {}) {
  const limit = limitOf(opts);
  const c = opts.cursor ? decodeCursor(opts.cursor, 'text') : FIRST_ASC;
  const rows =
    city === null
      ? await run(db, q.searchByState, [state, c.t, c.id, limit + 1])
      : await run(db, q.searchByCity, [state, city, c.id, limit + 1]);
  return toPage(rows, limit, textKey);
}

export async function peopleByNamePrefix(db: Queryable, prefix: string, opts: PageOptions = {}) {
  const limit = limitOf(opts);
  const c = opts.cursor ? decodeCursor(opts.cursor, 'text') : FIRST_ASC;
  return toPage(await run(db, q.searchByNamePrefix, [prefix, c.t, c.id, limit + 1]), limit, textKey);
}

/**
 * "About N": the planner's row estimate for a query (EXPLAIN, not executed; from ANALYZE's statistics), e.g.
 * estimateTotal(db, estimates.roomMessages, [roomId]). Good to an order of magnitude, costs a planning.
 */
export async function estimateTotal<P extends readonly unknown[]>(db: Queryable, query: Query<P, never>, params: P) {
  const { rows } = await db.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>({
    text: `EXPLAIN (FORMAT JSON) ${query.text}`,
    values: [...params],
  });
  return Math.round(rows[0]?.['QUERY PLAN'][0].Plan['Plan Rows'] ?? 0);
}

/** Rows of a whole table (summed over its partitions) from pg_class.reltuples, as of the last ANALYZE/VACUUM. */
export async function estimateTableRows(db: Queryable, table: string): Promise<number> {
  const { rows } = await db.query<{ n: number | null }>(
    `SELECT sum(greatest(c.reltuples, 0))::float8 AS n
       FROM pg_partition_tree($1::regclass) t JOIN pg_class c ON c.oid = t.relid WHERE t.isleaf`,
    [table],
  );
  return Math.round(rows[0]?.n ?? 0);
}
