import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';

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

  test('persists with an append-only file', async () => {
    await using ctx = await openTestContext('redis-aof');
    const redis = ctx.redis();
    const appendonly = await redis.config('GET', 'appendonly');
    expect(appendonly).toEqual(['appendonly', 'yes']);
  });
});
