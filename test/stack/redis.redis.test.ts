import type { Redis } from 'ioredis';
import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';

/** One server setting, as CONFIG GET reports it. */
async function setting(redis: Redis, name: string): Promise<string | undefined> {
  // ioredis 5 types CONFIG's reply as unknown: a [name, value] pair for one setting
  const [key, value] = (await redis.config('GET', name)) as [string, string];
  expect(key).toBe(name);
  return value;
}

describe('redis', () => {
  test('round trip, under the context key prefix', async () => {
    await using ctx = await openTestContext('redis');
    const redis = ctx.redis();
    const key = `${ctx.redisPrefix}greeting`;
    await redis.set(key, 'hello', 'PX', 60_000);
    expect(await redis.get(key)).toBe('hello');
    expect(await redis.pttl(key)).toBeGreaterThan(0);
    const info = await redis.info('server');
    expect(info).toMatch(/redis_version:7\./);
  });

  test('the cache evicts: bounded memory, allkeys-lfu, nothing persisted', async () => {
    await using ctx = await openTestContext('redis-cache');
    const cache = ctx.redis();
    expect(await cache.ping()).toBe('PONG');
    expect(Number(await setting(cache, 'maxmemory'))).toBeGreaterThan(0);
    expect(await setting(cache, 'maxmemory-policy')).toBe('allkeys-lfu');
    expect(await setting(cache, 'appendonly')).toBe('no');
    expect(await setting(cache, 'save')).toBe('');
  });

  test('the store never evicts and persists with an append-only file', async () => {
    await using ctx = await openTestContext('redis-store');
    const store = ctx.redisStore();
    expect(await store.ping()).toBe('PONG');
    expect(await setting(store, 'maxmemory-policy')).toBe('noeviction');
    expect(await setting(store, 'appendonly')).toBe('yes');
    expect(await setting(store, 'appendfsync')).toBe('everysec');
    const info = await store.info('persistence');
    expect(info).toMatch(/^aof_enabled:1\r?$/m);
  });

  test('the roles are separate servers, and the context removes its keys from both', async () => {
    await using checker = await openTestContext('redis-roles-check');
    const cache = checker.redis();
    const store = checker.redisStore();
    expect(checker.urls.redisStoreUrl).not.toBe(checker.urls.redisUrl);
    expect((await store.info('server')).match(/^run_id:(\w+)/m)?.[1]).not.toBe(
      (await cache.info('server')).match(/^run_id:(\w+)/m)?.[1],
    );

    let written: string;
    {
      await using ctx = await openTestContext('redis-roles');
      written = `${ctx.redisPrefix}role`;
      await ctx.redisStore().set(written, 'in the store');
      await ctx.redis().set(written, 'in the cache', 'PX', 60_000);
      expect(await store.get(written)).toBe('in the store');
      expect(await cache.get(written)).toBe('in the cache');
    }
    expect(await store.exists(written)).toBe(0);
    expect(await cache.exists(written)).toBe(0);
  });
});
