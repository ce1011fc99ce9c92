import { describe, expect, test } from 'vitest';
import { CursorError, decodeCursor, encodeCursor, pageSize, toPage } from './cursor.ts';

const id = '0192f3a4-5b6c-7d8e-9f01-23456789abcd';

describe('cursor', () => {
  test('round-trips a time cursor with microseconds, as opaque base64url', () => {
    const c = { t: '2026-11-27T23:59:59.123456Z', id };
    const s = encodeCursor(c);
    expect(s).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(JSON.parse(Buffer.from(s, 'base64url').toString())).toEqual(c);
    expect(decodeCursor(s)).toEqual(c);
  });

  test('round-trips a text cursor (names, cities), including quotes and non-ASCII', () => {
    const c = { t: 'o\'brien ünal "x"', id };
    expect(decodeCursor(encodeCursor(c), 'text')).toEqual(c);
  });

  const bad: [string, string][] = [
    ['empty', ''],
    ['not base64url', 'abc+/=='],
    ['not JSON', Buffer.from('{t:1}').toString('base64url')],
    ['an array', Buffer.from('[1,2]').toString('base64url')],
    ['extra key', Buffer.from(JSON.stringify({ t: '2026-01-01T00:00:00Z', id, x: 1 })).toString('base64url')],
    ['missing id', Buffer.from(JSON.stringify({ t: '2026-01-01T00:00:00Z' })).toString('base64url')],
    [
      'id not a uuid',
      Buffer.from(JSON.stringify({ t: '2026-01-01T00:00:00Z', id: "1' OR 1=1" })).toString('base64url'),
    ],
    [
      'uppercase uuid',
      Buffer.from(JSON.stringify({ t: '2026-01-01T00:00:00Z', id: id.toUpperCase() })).toString('base64url'),
    ],
    ['t not a time', Buffer.from(JSON.stringify({ t: 'yesterday', id })).toString('base64url')],
    ['t a number', Buffer.from(JSON.stringify({ t: 1, id })).toString('base64url')],
    ['impossible date', Buffer.from(JSON.stringify({ t: '2026-13-45T00:00:00Z', id })).toString('base64url')],
    ['February 30th', Buffer.from(JSON.stringify({ t: '2026-02-30T00:00:00Z', id })).toString('base64url')],
    ['nanoseconds', Buffer.from(JSON.stringify({ t: '2026-01-01T00:00:00.1234567Z', id })).toString('base64url')],
    ['keys reordered (not ours)', Buffer.from(JSON.stringify({ id, t: '2026-01-01T00:00:00Z' })).toString('base64url')],
    ['too long', 'A'.repeat(2000)],
  ];
  test.each(bad)('rejects %s', (_what, s) => {
    expect(() => decodeCursor(s)).toThrow(CursorError);
  });

  test('rejects a cursor with a character appended or removed (truncated or tampered)', () => {
    const s = encodeCursor({ t: '2026-11-27T23:59:59.123456Z', id });
    expect(() => decodeCursor(s.slice(0, -1))).toThrow(CursorError);
    expect(() => decodeCursor(`${s}A`)).toThrow(CursorError);
  });

  test('text cursors are bounded in length', () => {
    expect(() => decodeCursor(encodeCursor({ t: 'x'.repeat(301), id }), 'text')).toThrow(CursorError);
  });
});

describe('toPage', () => {
  const rows = Array.from({ length: 6 }, (_, i) => ({ cursor_t: `2026-01-0${i + 1}T00:00:00Z`, id }));
  const key = (r: (typeof rows)[number]) => ({ t: r.cursor_t, id: r.id });

  test('limit + 1 rows: a next page, the cursor from the last row kept', () => {
    const page = toPage(rows, 5, key);
    expect(page.items).toHaveLength(5);
    expect(page.hasNext).toBe(true);
    expect(decodeCursor(page.next!)).toEqual({ t: '2026-01-05T00:00:00Z', id });
  });

  test('limit rows or fewer: the last page', () => {
    expect(toPage(rows.slice(0, 5), 5, key)).toMatchObject({ hasNext: false, next: null });
    expect(toPage([], 5, key)).toEqual({ items: [], hasNext: false, next: null });
  });

  test('page size from input', () => {
    expect(pageSize(undefined)).toBe(50);
    expect(pageSize('20')).toBe(20);
    expect(pageSize(1000)).toBe(200);
    expect(pageSize(0)).toBe(50);
    expect(pageSize('abc')).toBe(50);
  });
});
