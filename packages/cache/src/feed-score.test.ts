import { describe, expect, test } from 'vitest';
import {
  buildSequence,
  FeedTimeError,
  feedMember,
  microsToTime,
  newerFirst,
  parseFeedMember,
  timeToMicros,
} from './feed-score.ts';

describe('feed scores', () => {
  test('a time becomes whole microseconds and back, exactly', () => {
    const t = '2026-11-28T13:33:03.123456Z';
    expect(timeToMicros(t)).toBe(Date.parse('2026-11-28T13:33:03Z') * 1000 + 123456);
    expect(microsToTime(timeToMicros(t))).toBe(t);
    // fewer digits, none, and Postgres's +00:00 spelling
    expect(microsToTime(timeToMicros('2026-11-28T13:33:03.12Z'))).toBe('2026-11-28T13:33:03.120000Z');
    expect(microsToTime(timeToMicros('2026-11-28T13:33:03Z'))).toBe('2026-11-28T13:33:03.000000Z');
    expect(timeToMicros('2026-11-28T13:33:03.5+00:00')).toBe(timeToMicros('2026-11-28T13:33:03.500000Z'));
  });

  test('a time formats as Date#toISOString does, with six digits of microseconds', () => {
    // random instants from 1970 to 2200, and the edges of a day
    const samples = Array.from({ length: 2000 }, () => Math.floor(Math.random() * 7.3e15));
    samples.push(0, 86_399_999_999, 86_400_000_000, timeToMicros('2024-02-29T23:59:59.999999Z'));
    for (const micros of samples) {
      const ms = Math.floor(micros / 1000);
      const expected = `${new Date(ms).toISOString().slice(0, 19)}.${String(micros % 1_000_000).padStart(6, '0')}Z`;
      expect(microsToTime(micros)).toBe(expected);
      expect(timeToMicros(microsToTime(micros))).toBe(micros);
    }
  });

  test('one microsecond apart stays one apart (the score is exact in a double)', () => {
    const a = timeToMicros('2199-12-31T23:59:59.999998Z');
    const b = timeToMicros('2199-12-31T23:59:59.999999Z');
    expect(b - a).toBe(1);
    expect(Number.isSafeInteger(b)).toBe(true);
    expect(microsToTime(b)).toBe('2199-12-31T23:59:59.999999Z');
  });

  test('a time that is not UTC or has more than microseconds is refused with a code', () => {
    for (const bad of [
      '2026-11-28T13:33:03.1234567Z',
      '2026-11-28T13:33:03+01:00',
      'yesterday',
      '2026-13-40T00:00:00Z',
    ]) {
      expect(() => timeToMicros(bad)).toThrow(FeedTimeError);
    }
  });

  test('members carry the status then the author; ties sort by status id as the database does', () => {
    const s = '0b9c5a54-2a2f-4c44-9b59-4f4b1c3d2e10';
    const a = 'f3f2e850-b5d4-11ef-ac7e-96584d5248b2';
    expect(parseFeedMember(feedMember(s, a))).toEqual({ statusId: s, authorId: a });
    const same = timeToMicros('2026-11-28T10:00:00.000001Z');
    const entries = [
      { micros: same, id: '10000000-0000-4000-8000-000000000000' },
      { micros: same + 1, id: '00000000-0000-4000-8000-000000000000' },
      { micros: same, id: 'a0000000-0000-4000-8000-000000000000' },
    ];
    expect(entries.sort(newerFirst).map((e) => e.id[0])).toEqual(['0', 'a', '1']);
  });

  test('a build sequence comes after every event of its commit and before the next commit', () => {
    const at = buildSequence(5000n);
    expect(at).toHaveLength(30);
    expect(at > `${'5000'.padStart(20, '0')}0000000003`).toBe(true);
    expect(at < `${'5001'.padStart(20, '0')}0000000000`).toBe(true);
  });
});
