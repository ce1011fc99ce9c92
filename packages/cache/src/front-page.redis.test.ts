import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import type { FillEntry, FrontKeys } from './front-page.ts';
import { fillFront, readFront, takeFrontLease } from './front-page.ts';
import { keyspace } from './keys.ts';
import { registerScripts, writeBatch } from './scripts.ts';
import type { ScriptedRedis } from './scripts.ts';
import { rowVersion } from './versions.ts';

const entry = (id: string, score: number, version = 1): FillEntry => ({
  id,
  score,
  version: rowVersion(version),
  json: JSON.stringify({ id, score, version }),
});

async function setup(name: string) {
  const ctx = await openTestContext(name);
  const redis = registerScripts(ctx.redis());
  const ks = keyspace(ctx.redisPrefix);
  const keys: FrontKeys = {
    list: ks.forumFront('c'),
    bodies: ks.forumFrontBodies('c'),
    lease: ks.forumFrontLease('c'),
  };
  return { ctx, redis, keys };
}

const put = (redis: ScriptedRedis, k: FrontKeys, id: string, score: number, version: number, cap = 5) =>
  redis.rankPut(k.list, k.bodies, k.lease, id, score, rowVersion(version), JSON.stringify({ id, score, version }), cap);

/** The ids the list vouches for, best first, and its floor. */
async function vouched(redis: ScriptedRedis, keys: FrontKeys) {
  const held = await readFront(redis, keys, 50);
  return held && { floor: held.floor, ids: held.entries.map((e) => e.id) };
}

describe('front pages: created by a complete read, kept in step by events, trusted down to their floor', () => {
  test('a fill vouches above its last entry (or for everything when the read came up short)', async () => {
    const { ctx, redis, keys } = await setup('front-fill');
    await using _ = ctx;
    expect(await readFront(redis, keys, 10)).toBeUndefined();
    const token = await takeFrontLease(redis, keys, 5_000);
    expect(token).toBeDefined();
    expect(await takeFrontLease(redis, keys, 5_000)).toBeUndefined(); // one filler at a time
    const top = [entry('a', 50), entry('b', 40), entry('c', 30), entry('d', 30)];
    expect(await fillFront(redis, keys, token ?? '', top, { capacity: 4, ttlMs: 60_000 })).toBe(1);
    // d ties with the floor (30): held, but c and d are not vouched for, another thread may share that score
    expect(await vouched(redis, keys)).toEqual({ floor: 30, ids: ['a', 'b'] });
    expect(await redis.pttl(keys.list)).toBeGreaterThan(50_000);

    await redis.del(keys.list, keys.bodies);
    const again = await takeFrontLease(redis, keys, 5_000);
    expect(await fillFront(redis, keys, again ?? '', top.slice(0, 2), { capacity: 4, ttlMs: 60_000 })).toBe(1);
    expect(await vouched(redis, keys)).toEqual({ floor: -Infinity, ids: ['a', 'b'] });
    const bodies = (await readFront(redis, keys, 10))?.entries.map((e) => JSON.parse(e.json ?? 'null') as unknown);
    expect(bodies).toEqual([
      { id: 'a', score: 50, version: 1 },
      { id: 'b', score: 40, version: 1 },
    ]);
  });

  test('an event that finds no list takes the lease away: a fill that read before it stores nothing', async () => {
    const { ctx, redis, keys } = await setup('front-race');
    await using _ = ctx;
    const token = await takeFrontLease(redis, keys, 5_000);
    // ... the filler reads the database; meanwhile a thread changes and the projector applies the event
    expect(await put(redis, keys, 'x', 99, 2)).toBe(0);
    expect(await redis.exists(keys.list, keys.lease)).toBe(0);
    expect(await fillFront(redis, keys, token ?? '', [entry('x', 10, 1)], { capacity: 5, ttlMs: 60_000 })).toBe(0);
    expect(await readFront(redis, keys, 10)).toBeUndefined();
    // the same through a delete, and through the batched script the projector uses
    const second = await takeFrontLease(redis, keys, 5_000);
    const batch = writeBatch(redis);
    batch.rankDelete(keys.list, keys.bodies, keys.lease, 'x');
    expect((await batch.exec()).map(([, v]) => v)).toEqual([0]);
    expect(await fillFront(redis, keys, second ?? '', [entry('x', 10, 1)], { capacity: 5, ttlMs: 60_000 })).toBe(0);
    // a fill over a list that exists already stores nothing either
    const third = await takeFrontLease(redis, keys, 5_000);
    expect(await fillFront(redis, keys, third ?? '', [entry('y', 5)], { capacity: 5, ttlMs: 60_000 })).toBe(1);
    const fourth = await takeFrontLease(redis, keys, 5_000);
    expect(await fillFront(redis, keys, fourth ?? '', [entry('z', 7)], { capacity: 5, ttlMs: 60_000 })).toBe(-1);
    expect(await vouched(redis, keys)).toEqual({ floor: -Infinity, ids: ['y'] });
  });

  test('events move, add and drop entries around the floor, newest version wins, a trim raises the floor', async () => {
    const { ctx, redis, keys } = await setup('front-events');
    await using _ = ctx;
    const token = await takeFrontLease(redis, keys, 5_000);
    const top = [entry('a', 50), entry('b', 40), entry('c', 30)];
    await fillFront(redis, keys, token ?? '', top, { capacity: 3, ttlMs: 60_000 }); // floor 30
    expect(await vouched(redis, keys)).toEqual({ floor: 30, ids: ['a', 'b'] });

    expect(await put(redis, keys, 'old', 20, 5)).toBe(1); // a title edit far below: stays out
    expect(await vouched(redis, keys)).toEqual({ floor: 30, ids: ['a', 'b'] });
    expect(await redis.hexists(keys.bodies, 'old')).toBe(0);
    expect(await put(redis, keys, 'old', 60, 6)).toBe(1); // a new post in it: on top
    expect(await put(redis, keys, 'old', 20, 5)).toBe(0); // its older event again: refused
    expect(await put(redis, keys, 'b', 45, 1)).toBe(0); // the same version: refused
    expect(await put(redis, keys, 'b', 55, 2)).toBe(1); // b moves up
    expect(await vouched(redis, keys)).toEqual({ floor: 30, ids: ['old', 'b', 'a'] });
    expect(await put(redis, keys, 'a', 25, 2)).toBe(1); // a falls below the floor: it leaves
    expect(await vouched(redis, keys)).toEqual({ floor: 30, ids: ['old', 'b'] });

    // the cap (5 entries here): the lowest go (c, held at the floor, then b) and the floor rises to the lowest kept,
    // which is then held but not vouched for (a thread that went may have shared its score)
    for (const [i, id] of ['d', 'e', 'f', 'g'].entries()) expect(await put(redis, keys, id, 70 + i, 1)).toBe(1);
    const held = await readFront(redis, keys, 50);
    expect(held?.floor).toBe(60);
    expect(held?.entries.map((e) => e.id)).toEqual(['g', 'f', 'e', 'd']);
    expect(await redis.zcard(keys.list)).toBe(6); // five and the floor
    expect(await redis.hlen(keys.bodies)).toBe(5);

    // a delete leaves a tombstone that a late event cannot get past
    const batch = writeBatch(redis);
    batch.rankDelete(keys.list, keys.bodies, keys.lease, 'g');
    batch.rankPut(keys.list, keys.bodies, keys.lease, 'g', 90, rowVersion(9), '{}', 5);
    expect((await batch.exec()).map(([, v]) => v)).toEqual([1, 0]);
    expect((await vouched(redis, keys))?.ids).toEqual(['f', 'e', 'd']);
  });
});
