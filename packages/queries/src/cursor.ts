/**
 * Opaque keyset cursors: base64url of the JSON {"t": sort key, "id": tie-breaker uuid} of the last row of a page.
 *
 * `t` is a timestamp for time-ordered lists, kept as the database's text with microseconds (the queries select it
 * as `cursor_t`): a JS Date has only milliseconds, and a cursor rounded to the millisecond would skip the rows
 * between the rounded and the real value. For lists ordered by text (names, cities) `t` is that text.
 *
 * Decoding accepts only what encodeCursor() produces (canonical base64url, exactly these two keys, a lowercase
 * uuid, a well-formed key), so a tampered or truncated cursor is a CursorError (a 400), never a query error.
 */

export interface Cursor {
  t: string;
  id: string;
}

export type CursorKind = 'time' | 'text';

export class CursorError extends Error {
  readonly code = 'CURSOR_INVALID';
  constructor(reason: string) {
    super(`invalid cursor: ${reason}`);
    this.name = 'CursorError';
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** What the queries' cursor_t produces: UTC, 'T' separator, up to microseconds, 'Z'. */
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;
const MAX_TEXT = 300;
const MAX_ENCODED = 1024;

export const isUuid = (s: string) => UUID.test(s);

/** A real instant in the cursor's format (no 2026-02-30: the date must survive a round trip). */
function isTime(t: string): boolean {
  if (!TIME.test(t)) return false;
  const ms = Date.parse(t);
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 19) === t.slice(0, 19);
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify({ t: c.t, id: c.id }), 'utf8').toString('base64url');
}

export function decodeCursor(encoded: string, kind: CursorKind = 'time'): Cursor {
  if (typeof encoded !== 'string' || encoded.length === 0) throw new CursorError('empty');
  if (encoded.length > MAX_ENCODED) throw new CursorError('too long');
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) throw new CursorError('not base64url');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
  } catch {
    throw new CursorError('not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CursorError('not an object');
  const keys = Object.keys(value);
  if (keys.length !== 2 || !keys.includes('t') || !keys.includes('id')) throw new CursorError('keys must be t, id');
  const { t, id } = value as Record<string, unknown>;
  if (typeof id !== 'string' || !UUID.test(id)) throw new CursorError('id is not a uuid');
  if (typeof t !== 'string') throw new CursorError('t is not a string');
  if (kind === 'time' && !isTime(t)) throw new CursorError('t is not a time');
  if (kind === 'text' && t.length > MAX_TEXT) throw new CursorError('t is too long');
  const cursor = { t, id };
  if (encodeCursor(cursor) !== encoded) throw new CursorError('not canonical');
  return cursor;
}

/** The cursor's time in Unix ms (microseconds dropped: only for choosing a time window, never as the key). */
export const cursorMs = (c: Cursor) => Date.parse(c.t);

/**
 * Sentinels that sort before every row, so a first page is the same keyset query as the others:
 * DESC time order starts below 'infinity'; ASC text/id order starts above '' and the nil uuid.
 */
export const FIRST_DESC: Cursor = { t: 'infinity', id: 'ffffffff-ffff-ffff-ffff-ffffffffffff' };
export const FIRST_ASC: Cursor = { t: '', id: '00000000-0000-0000-0000-000000000000' };

export interface Page<R> {
  items: R[];
  hasNext: boolean;
  /** The cursor of the next page, null on the last page. */
  next: string | null;
}

/**
 * Turns the rows of a query run with LIMIT limit + 1 into a page: the extra row only says that there is a next
 * page (no COUNT), and the cursor is taken from the last row kept.
 */
export function toPage<R>(rows: R[], limit: number, keyOf: (row: R) => Cursor): Page<R> {
  const hasNext = rows.length > limit;
  const items = hasNext ? rows.slice(0, limit) : rows;
  const last = items.at(-1);
  return { items, hasNext, next: hasNext && last !== undefined ? encodeCursor(keyOf(last)) : null };
}

/** A page size from user input: an integer in [1, max], else the default. */
export function pageSize(requested: unknown, fallback = 50, max = 200): number {
  const n = typeof requested === 'string' ? Number(requested) : requested;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? Math.min(n, max) : fallback;
}
