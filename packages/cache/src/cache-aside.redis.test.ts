import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import type { Loaded } from './cache-aside.ts';
import { CacheAside, leaseKey } from './cache-aside.ts';
import { invalidationChannel, publishInvalidations } from './invalidation.ts';
import { L1Cache } from './l1-cache.ts';
import { startRedisCluster } from './redis-cluster.ts';
import { rowVersion } from './versions.ts';

interface Row {
  name: string;
}

/** A database stand-in: the rows, and how many times each was read. */
function fakeTable(rows: Record<string, Row>) {
  const loads: string[] = [];
  const loader =
    (id: string, delayMs = 0) =>
    async (): Promise<Loaded<Row> | null> => {
      loads.push(id);
      if (delayMs > 0) await sleep(delayMs);
      const row = rows[id];
      return row ? { value: row } : null;
    };
  return { rows, loads, loader };
}

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('CacheAside (real Redis)', () => {
  test('a miss loads and fills one string with a jittered TTL; the next get is a Redis hit', async () => {
    await using ctx = await openTestContext('cache-aside-fill');
    const redis = ctx.redis();
    const outcomes: string[] = [];
    const cache = new CacheAside(redis, { ttlMs: 60_000, onLookup: (ks, o) => outcomes.push(`${ks}:${o}`) });
    const db = fakeTable({ ann: { name: 'Ann' } });
    const key = `${ctx.redisPrefix}{u:ann}:ca`;

    expect(await cache.get('profile', key, db.loader('ann'))).toEqual({ value: { name: 'Ann' }, from: 'db' });
    expect(await redis.get(key)).toBe('|{"name":"Ann"}');
    expect(await redis.exists(leaseKey(key))).toBe(0); // the fill gave the lease back
    expect(await cache.get('profile', key, db.loader('ann'))).toEqual({ value: { name: 'Ann' }, from: 'redis' });
    expect(db.loads).toEqual(['ann']);
    expect(outcomes).toEqual(['profile:miss', 'profile:hit']);

    // ±10%: fills made together do not expire together
    const ttls: number[] = [];
    for (let i = 0; i < 20; i++) {
      const k = `${ctx.redisPrefix}{u:j${i}}:ca`;
      await cache.get('profile', k, () => Promise.resolve({ value: i, version: rowVersion(i) }));
      ttls.push(await redis.pttl(k));
    }
    expect(Math.min(...ttls)).toBeGreaterThanOrEqual(53_000);
    expect(Math.max(...ttls)).toBeLessThanOrEqual(66_000);
    expect(new Set(ttls).size).toBeGreaterThan(10);
    expect(await redis.get(`${ctx.redisPrefix}{u:j7}:ca`)).toBe(`${rowVersion(7)}|7`);
  });

  test('"not found" is remembered for a short while and answered without loading', async () => {
    await using ctx = await openTestContext('cache-aside-negative');
    const redis = ctx.redis();
    const outcomes: string[] = [];
    const cache = new CacheAside(redis, {
      ttlMs: 60_000,
      negativeTtlMs: 3_000,
      onLookup: (_, o) => outcomes.push(o),
    });
    const db = fakeTable({});
    const key = `${ctx.redisPrefix}{u:ghost}:ca`;
    expect(await cache.get('profile', key, db.loader('ghost'))).toEqual({ value: null, from: 'db' });
    expect(await redis.get(key)).toBe('|');
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(2_500);
    expect(ttl).toBeLessThanOrEqual(3_300);
    expect(await cache.get('profile', key, db.loader('ghost'))).toEqual({ value: null, from: 'redis' });
    expect(db.loads).toEqual(['ghost']);
    expect(outcomes).toEqual(['miss', 'negative_hit']);
  });

  test('single-flight: concurrent gets of one key in a process share one load', async () => {
    await using ctx = await openTestContext('cache-aside-flight');
    // no waiting for a lease holder: only the sharing in the process keeps the others from loading
    const cache = new CacheAside(ctx.redis(), { ttlMs: 60_000, leaseWaitMs: 0 });
    const db = fakeTable({ ann: { name: 'Ann' } });
    const key = `${ctx.redisPrefix}{u:ann}:ca`;
    const results = await Promise.all(Array.from({ length: 25 }, () => cache.get('p', key, db.loader('ann', 30))));
    expect(db.loads).toEqual(['ann']);
    expect(results.every((r) => r.value?.name === 'Ann' && r.from === 'db')).toBe(true);
  });

  test('fleet-wide lease: of many processes that miss at once, one loads; the others get its fill from Redis', async () => {
    await using ctx = await openTestContext('cache-aside-lease');
    // one client (and one CacheAside, so no shared single-flight) per "process"
    const fleet = Array.from({ length: 8 }, () => new CacheAside(ctx.redis(), { ttlMs: 60_000, leaseWaitMs: 1_000 }));
    const db = fakeTable({ ann: { name: 'Ann' } });
    const key = `${ctx.redisPrefix}{u:ann}:ca`;
    const results = await Promise.all(fleet.map((cache) => cache.get('p', key, db.loader('ann', 100))));
    expect(db.loads).toEqual(['ann']);
    expect(results.filter((r) => r.from === 'db')).toHaveLength(1);
    expect(results.filter((r) => r.from === 'redis')).toHaveLength(7);
    expect(results.every((r) => r.value?.name === 'Ann')).toBe(true);
  });

  test('a caller that lost the lease loads for itself after leaseWaitMs, without filling', async () => {
    await using ctx = await openTestContext('cache-aside-wait');
    const redis = ctx.redis();
    const holder = new CacheAside(ctx.redis(), { ttlMs: 60_000 });
    const late = new CacheAside(redis, { ttlMs: 60_000, leaseWaitMs: 50 });
    const db = fakeTable({ ann: { name: 'Ann' } });
    const key = `${ctx.redisPrefix}{u:ann}:ca`;
    const entered = gate();
    const resume = gate();
    const slowFill = holder.get('p', key, async () => {
      entered.open(); // it loads: it holds the lease
      await resume.opened;
      return db.loader('ann')();
    });
    await entered.opened;
    const started = Date.now();
    expect(await late.get('p', key, db.loader('ann'))).toEqual({ value: { name: 'Ann' }, from: 'db' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45); // it waited for the holder's fill first
    expect(await redis.exists(key)).toBe(0); // it did not fill
    resume.open();
    expect((await slowFill).from).toBe('db');
    expect(await redis.get(key)).toBe('|{"name":"Ann"}');
    expect(db.loads).toEqual(['ann', 'ann']);
  });

  test('a load that fails gives the lease up at once, and the error reaches the caller', async () => {
    await using ctx = await openTestContext('cache-aside-fail');
    const redis = ctx.redis();
    const cache = new CacheAside(redis, { ttlMs: 60_000, leaseMs: 30_000 });
    const key = `${ctx.redisPrefix}{u:ann}:ca`;
    await expect(cache.get('p', key, () => Promise.reject(new Error('db down')))).rejects.toThrow('db down');
    expect(await redis.exists(leaseKey(key), key)).toBe(0);
    expect((await cache.get('p', key, () => Promise.resolve({ value: 1 }))).value).toBe(1);
    // a value that is not JSON fails the same way
    const other = `${ctx.redisPrefix}{u:bob}:ca`;
    await expect(cache.get('p', other, () => Promise.resolve({ value: undefined }))).rejects.toThrow(TypeError);
    expect(await redis.exists(leaseKey(other), other)).toBe(0);
  });

  test('stale set: a fill of data read before a write + invalidate is refused; the next get returns the new data', async () => {
    await using ctx = await openTestContext('cache-aside-stale-set');
    const redis = ctx.redis();
    const cache = new CacheAside(redis, { ttlMs: 60_000 });
    const key = `${ctx.redisPrefix}{u:ann}:ca`;
    let row: Loaded<Row> = { value: { name: 'old' }, version: rowVersion(1) };
    const entered = gate();
    const resume = gate();
    // reads the row, then is held (a slow query, a GC pause) before its fill
    const slowLoad = async () => {
      const read = row;
      entered.open();
      await resume.opened;
      return read;
    };
    const reading = cache.get('p', key, slowLoad);
    await entered.opened;
    expect(await redis.exists(leaseKey(key))).toBe(1);

    row = { value: { name: 'new' }, version: rowVersion(2) }; // the write commits…
    await cache.invalidate([key]); // …and its invalidation follows
    expect(await redis.exists(leaseKey(key))).toBe(0);

    resume.open();
    expect(await reading).toEqual({ value: { name: 'old' }, from: 'db' }); // what it read, but not cached
    expect(await redis.exists(key)).toBe(0);
    const loads: string[] = [];
    const next = await cache.get('p', key, () => {
      loads.push('load');
      return Promise.resolve(row);
    });
    expect(next).toEqual({ value: { name: 'new' }, from: 'db' });
    expect(await redis.get(key)).toBe(`${rowVersion(2)}|{"name":"new"}`);
    expect(loads).toEqual(['load']);
  });

  test('a get after an invalidation does not join the lookup it killed; the late old fill does not land over the new one', async () => {
    await using ctx = await openTestContext('cache-aside-stale-join');
    const redis = ctx.redis();
    const cache = new CacheAside(redis, { ttlMs: 60_000 });
    const key = `${ctx.redisPrefix}{u:ann}:ca`;
    let row: Loaded<Row> = { value: { name: 'old' } }; // unversioned: only the lease protects it
    const entered = gate();
    const resume = gate();
    const reading = cache.get('p', key, async () => {
      const read = row;
      entered.open();
      await resume.opened;
      return read;
    });
    await entered.opened;
    row = { value: { name: 'new' } };
    await cache.invalidate([key]);
    const fresh = await cache.get('p', key, () => Promise.resolve(row));
    expect(fresh).toEqual({ value: { name: 'new' }, from: 'db' });
    resume.open();
    expect((await reading).value).toEqual({ name: 'old' });
    expect(await cache.get('p', key, () => Promise.resolve(row))).toEqual({ value: { name: 'new' }, from: 'redis' });
  });

  test('a fill never replaces a newer version stored meanwhile (a write-through)', async () => {
    await using ctx = await openTestContext('cache-aside-version');
    const redis = ctx.redis();
    const cache = new CacheAside(redis, { ttlMs: 60_000 });
    const key = `${ctx.redisPrefix}{u:ann}:ca`;
    const stored = `${rowVersion(5)}|{"name":"five"}`;
    const result = await cache.get('p', key, async () => {
      await redis.set(key, stored, 'PX', 60_000); // written by someone who does not take leases
      return { value: { name: 'four' }, version: rowVersion(4) };
    });
    expect(result.value).toEqual({ name: 'four' });
    expect(await redis.get(key)).toBe(stored);
  });

  test('L1: a hit never goes to Redis; invalidate drops it; a read in flight cannot put back what was dropped', async () => {
    await using ctx = await openTestContext('cache-aside-l1');
    const redis = ctx.redis();
    const l1 = new L1Cache({ maxEntries: 100, maxBytes: 10_000, ttlMs: 60_000 });
    const outcomes: string[] = [];
    const cache = new CacheAside(redis, { ttlMs: 60_000, l1, onLookup: (_, o) => outcomes.push(o) });
    const db = fakeTable({ ann: { name: 'Ann' } });
    const key = `${ctx.redisPrefix}{u:ann}:ca`;
    const ghost = `${ctx.redisPrefix}{u:ghost}:ca`;
    await cache.get('p', key, db.loader('ann'));
    await cache.get('p', ghost, db.loader('ghost'));
    await redis.del(key, ghost); // behind the cache's back: only an answer from L1 can still see them
    expect(await cache.get('p', key, db.loader('ann'))).toEqual({ value: { name: 'Ann' }, from: 'l1' });
    expect(await cache.get('p', ghost, db.loader('ghost'))).toEqual({ value: null, from: 'l1' });
    expect(outcomes).toEqual(['miss', 'miss', 'l1_hit', 'l1_hit']);
    expect(db.loads).toEqual(['ann', 'ghost']);

    await cache.invalidate([key]);
    expect(l1.get(key)).toBeUndefined();
    expect((await cache.get('p', key, db.loader('ann'))).from).toBe('db');

    // a Redis hit in flight when its key is dropped from L1 (an invalidation message) does not refill L1
    l1.clear();
    const inFlight = cache.get('p', key, db.loader('ann'));
    l1.delete(key);
    expect((await inFlight).from).toBe('redis');
    expect(l1.get(key)).toBeUndefined();
    expect((await cache.get('p', key, db.loader('ann'))).from).toBe('redis');
    expect((await cache.get('p', key, db.loader('ann'))).from).toBe('l1');
  });

  test('on a Redis Cluster: each key with its lease on one slot; fills, leases and invalidations work across nodes', async () => {
    await using cluster = await startRedisCluster();
    const client = new Cluster(cluster.nodes, { enableAutoPipelining: true });
    const subscriber = new Cluster(cluster.nodes);
    try {
      const cache = new CacheAside(client, { ttlMs: 60_000 });
      const keys = Array.from({ length: 30 }, (_, i) => `c:{u:${i}}:ca`);
      const loaded = await Promise.all(keys.map((k, i) => cache.get('p', k, () => Promise.resolve({ value: i }))));
      expect(loaded.map((l) => l.from)).toEqual(keys.map(() => 'db'));
      expect((await Promise.all(client.nodes('master').map((n) => n.dbsize()))).every((n) => n > 0)).toBe(true);
      expect(await cache.get('p', keys[3] ?? '', () => Promise.resolve({ value: -1 }))).toEqual({
        value: 3,
        from: 'redis',
      });

      const entered = gate();
      const resume = gate();
      const stale = cache.get('p', 'c:{u:x}:ca', async () => {
        entered.open();
        await resume.opened;
        return { value: 'old' };
      });
      await entered.opened;
      await cache.invalidate([...keys, 'c:{u:x}:ca']);
      resume.open();
      await stale;
      expect(await client.exists('c:{u:x}:ca')).toBe(0);
      expect((await Promise.all(keys.map((k) => client.exists(k)))).every((n) => n === 0)).toBe(true);

      // PUBLISH on a cluster reaches a subscriber on any node
      const messages: string[] = [];
      subscriber.on('message', (_channel: string, message: string) => messages.push(message));
      await subscriber.subscribe(invalidationChannel('c:'));
      await publishInvalidations(client, 'c:', ['c:{u:1}:ca', 'c:{u:2}:ca']);
      await eventually('the message', () => Promise.resolve(messages.length > 0 ? messages : undefined));
      expect(messages).toEqual(['c:{u:1}:ca\nc:{u:2}:ca']);
    } finally {
      await Promise.all([client.quit(), subscriber.quit()]);
    }
  }, 60_000);

  test('Redis unreachable: the value comes from the load, and the error is reported', async () => {
    // a port nothing listens on; no offline queue, so commands fail at once
    const down = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    down.on('error', () => undefined);
    try {
      const errors: unknown[] = [];
      const cache = new CacheAside(down, { ttlMs: 60_000, onError: (_, err) => errors.push(err) });
      expect(await cache.get('p', '{u:x}:ca', () => Promise.resolve({ value: 'x' }))).toEqual({
        value: 'x',
        from: 'db',
      });
      expect(errors).toHaveLength(1);
    } finally {
      down.disconnect();
    }
  });
});
