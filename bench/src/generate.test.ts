import { describe, expect, test } from 'vitest';
import * as chat from './model-chat.ts';
import * as feed from './model-feed.ts';
import * as people from './model-people.ts';
import { entityUuid, growthQuantile, Rng, timeUuid, zipfRank } from './rng.ts';
import { makeWorld, SCALES, userId } from './world.ts';

const NOW = Date.parse('2026-11-28T00:00:00Z');
const tiny = (seed = 42) => makeWorld(seed, NOW, SCALES.tiny);
const take = <T>(it: Iterable<T>, n: number) => {
  const out: T[] = [];
  for (const x of it) {
    if (out.length >= n) break;
    out.push(x);
  }
  return out;
};

describe('randomness', () => {
  test('a seed gives the same stream; another seed another stream', () => {
    const a = new Rng(1);
    const b = new Rng(1);
    const c = new Rng(2);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs);
  });

  test('Zipf ranks: in range, rank 0 most frequent, frequencies fall off as a power of the rank', () => {
    const rng = new Rng(7);
    const n = 1000;
    const counts = new Array<number>(n).fill(0);
    for (let i = 0; i < 200_000; i++) counts[rng.zipf(n, 1)]!++;
    expect(counts.every((c) => c >= 0)).toBe(true);
    expect(counts[0]).toBe(Math.max(...counts));
    // s = 1: P(rank k) ~ ln((k+2)/(k+1)) / ln(n+1): rank 0 about 10%, rank 9 about 1.4%
    expect(counts[0]! / 200_000).toBeCloseTo(Math.log(2) / Math.log(n + 1), 2);
    expect(counts[0]! / counts[9]!).toBeGreaterThan(5);
    expect(zipfRank(0, 10, 1)).toBe(0);
    expect(zipfRank(0.999999, 10, 1)).toBe(9);
    expect(zipfRank(0.5, 1, 1)).toBe(0);
  });

  test('growth quantiles are monotone and put more events late than early', () => {
    let prev = -1;
    let early = 0;
    let late = 0;
    for (let i = 0; i < 10_000; i++) {
      const x = growthQuantile(i, 10_000, 3, 0.5);
      expect(x).toBeGreaterThan(prev);
      expect(x).toBeLessThan(1);
      prev = x;
      if (x < 0.1) early++;
      if (x >= 0.9) late++;
    }
    expect(late / early).toBeGreaterThan(2.4); // the rate triples from start to end
    expect(late / early).toBeLessThan(3.2);
  });

  test('entity uuids: v4-shaped, deterministic, unique', () => {
    const ids = new Set<string>();
    for (let n = 0; n < 50_000; n++) ids.add(entityUuid(42, 1, n));
    expect(ids.size).toBe(50_000);
    expect(entityUuid(42, 1, 7)).toBe(entityUuid(42, 1, 7));
    expect(entityUuid(42, 1, 7)).not.toBe(entityUuid(43, 1, 7));
    expect(entityUuid(42, 1, 7)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('time uuids: v7-shaped and ordered by their time', () => {
    const a = timeUuid(1, NOW - 1000, 5);
    const b = timeUuid(1, NOW, 4);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a < b).toBe(true);
    expect(parseInt(b.replace(/-/g, '').slice(0, 12), 16)).toBe(NOW);
  });
});

describe('the generated world', () => {
  test('is the same for the same seed and differs for another', () => {
    const first = (seed: number) => take(chat.messages(tiny(seed), chat.chatTables(tiny(seed))), 200).join('');
    expect(first(42)).toBe(first(42));
    expect(first(42)).not.toBe(first(43));
    expect(take(people.users(tiny()), 50)).toEqual(take(people.users(tiny()), 50));
  });

  test('friendships: each unordered pair at most once, degrees with a long tail', () => {
    const w = tiny();
    const pairs = new Set<string>();
    const degree = new Map<string, number>();
    for (const row of people.relationships(w)) {
      const [, from, to, type] = row.split('\t') as [string, string, string, string];
      if (type !== 'FRIEND') continue;
      const key = from < to ? `${from}|${to}` : `${to}|${from}`;
      expect(pairs.has(key)).toBe(false);
      pairs.add(key);
      for (const u of [from, to]) degree.set(u, (degree.get(u) ?? 0) + 1);
    }
    const degrees = [...degree.values()].sort((a, b) => a - b);
    const median = degrees[Math.floor(degrees.length / 2)]!;
    expect(degrees.at(-1)!).toBeGreaterThan(10 * median);
    expect(degree.get(userId(w, 0))).toBeGreaterThanOrEqual(degrees.at(-5)!); // the oldest users are the hubs
  });

  test('messages: in time order, ~30% direct, a few rooms hold most, senders are members', () => {
    const w = tiny();
    const t = chat.chatTables(w);
    const members = new Set([...chat.roomMembers(w, t)].map((r) => r.split('\t').slice(0, 2).join('|')));
    let prev = '';
    let dm = 0;
    const perRoom = new Map<string, number>();
    for (const row of chat.messages(w, t)) {
      const [, at, room, , sender] = row.split('\t') as [string, string, string, string, string];
      expect(at >= prev).toBe(true);
      prev = at;
      if (room === '\\N') dm++;
      else {
        perRoom.set(room, (perRoom.get(room) ?? 0) + 1);
        expect(members.has(`${room}|${sender}`)).toBe(true);
      }
    }
    expect(dm / w.counts.messages).toBeCloseTo(0.3, 1);
    const sizes = [...perRoom.values()].sort((a, b) => b - a);
    const top = sizes.slice(0, Math.ceil(sizes.length * 0.1)).reduce((a, b) => a + b, 0);
    expect(top / (w.counts.messages - dm)).toBeGreaterThan(0.35); // the top 10% of rooms
    expect(Date.parse(prev)).toBeLessThan(NOW);
    expect(Date.parse(take(chat.messages(w, t), 1)[0]!.split('\t')[1]!)).toBeGreaterThan(NOW - 560 * 86_400_000);
  });

  test('status updates: a visibility mix of about 70/30 within the last year', () => {
    const w = tiny();
    const rows = [...feed.statusUpdates(w)].map((r) => r.split('\t'));
    const pub = rows.filter((r) => r[4] === 'PUBLIC\n').length / rows.length;
    expect(pub).toBeGreaterThan(0.65);
    expect(pub).toBeLessThan(0.75);
    expect(rows.every((r) => Date.parse(r[1]!) > NOW - 366 * 86_400_000)).toBe(true);
  });

  test('forum threads carry the post counts and last-post times of their posts', () => {
    const w = tiny();
    const stats = feed.learnThreads(w);
    const counted = new Map<string, { n: number; last: string }>();
    for (const row of feed.posts(w)) {
      const [, , at, thread] = row.split('\t') as [string, string, string, string];
      const c = counted.get(thread) ?? { n: 0, last: '' };
      counted.set(thread, { n: c.n + 1, last: at > c.last ? at : c.last });
    }
    const threads = [...feed.threads(w, stats)].map((r) => r.split('\t'));
    expect(threads).toHaveLength(w.counts.threads);
    for (const [id, , , , posts, last] of threads) {
      expect(counted.get(id!)).toEqual({ n: Number(posts), last });
    }
    expect([...counted.values()].reduce((a, c) => a + c.n, 0)).toBe(w.counts.forumPosts);
  });
});
