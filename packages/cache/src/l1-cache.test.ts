import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { L1Cache } from './l1-cache.ts';

describe('L1Cache', () => {
  test('bounded by entries: the least recently used goes first', () => {
    const l1 = new L1Cache({ maxEntries: 3, maxBytes: 1_000, ttlMs: 60_000 });
    l1.set('a', 1, 1);
    l1.set('b', 2, 1);
    l1.set('c', 3, 1);
    expect(l1.get('a')).toBe(1); // a is now the most recently used
    l1.set('d', 4, 1);
    expect(l1.get('b')).toBeUndefined();
    expect([l1.get('a'), l1.get('c'), l1.get('d')]).toEqual([1, 3, 4]);
    expect(l1.size).toBe(3);
  });

  test('bounded by bytes: evicts until the new entry fits; an entry larger than the bound is not kept', () => {
    const l1 = new L1Cache({ maxEntries: 100, maxBytes: 100, ttlMs: 60_000 });
    l1.set('a', 'x', 40);
    l1.set('b', 'y', 40);
    expect(l1.bytes).toBe(80);
    l1.get('a');
    l1.set('c', 'z', 40);
    expect(l1.get('b')).toBeUndefined();
    expect(l1.bytes).toBe(80);
    l1.set('huge', 'w', 101);
    expect(l1.get('huge')).toBeUndefined();
    expect(l1.size).toBe(2);
    l1.delete('a');
    expect(l1.bytes).toBe(40);
    l1.clear();
    expect([l1.size, l1.bytes]).toEqual([0, 0]);
  });

  test('entries expire after the TTL, or sooner when set with a shorter one', async () => {
    const l1 = new L1Cache({ maxEntries: 10, maxBytes: 1_000, ttlMs: 150 });
    l1.set('long', 1, 1);
    l1.set('short', 2, 1, 30);
    await sleep(60);
    expect(l1.get('short')).toBeUndefined();
    expect(l1.get('long')).toBe(1);
    await sleep(120);
    expect(l1.get('long')).toBeUndefined();
  });

  test('a fill reserved before a delete or a clear stores nothing', () => {
    const l1 = new L1Cache({ maxEntries: 10, maxBytes: 1_000, ttlMs: 60_000 });
    const first = l1.reserve('k');
    l1.delete('k'); // an invalidation arrived while the read was in flight
    expect(l1.fill('k', first, 'old', 3)).toBe(false);
    expect(l1.get('k')).toBeUndefined();

    const second = l1.reserve('k');
    l1.clear();
    expect(l1.fill('k', second, 'old', 3)).toBe(false);

    const older = l1.reserve('k');
    const newer = l1.reserve('k');
    expect(l1.fill('k', older, 'older', 5)).toBe(false);
    expect(l1.fill('k', newer, 'newer', 5)).toBe(true);
    expect(l1.get('k')).toBe('newer');
    expect(l1.fill('k', newer, 'again', 5)).toBe(false); // a reservation is good for one fill

    const released = l1.reserve('j');
    l1.release('j', released);
    expect(l1.fill('j', released, 'late', 4)).toBe(false);
  });

  test('rejects bounds that are not positive integers, and null values', () => {
    expect(() => new L1Cache({ maxEntries: 0, maxBytes: 1, ttlMs: 1 })).toThrow(/maxEntries/);
    expect(() => new L1Cache({ maxEntries: 1, maxBytes: 1.5, ttlMs: 1 })).toThrow(/maxBytes/);
    const l1 = new L1Cache({ maxEntries: 1, maxBytes: 10, ttlMs: 1_000 });
    expect(() => l1.set('k', null, 1)).toThrow(TypeError);
  });
});
