import { Cluster } from 'ioredis';
import { describe, expect, test } from 'vitest';
import { eventually } from '@bgc/testkit/eventually';
import { openTestContext } from '@bgc/testkit/context';
import type { Generations } from './generation.ts';
import {
  abortBuild,
  beginBuild,
  countGenerationKeys,
  deleteGenerationKeys,
  generationPrefix,
  markRetired,
  pointerKey,
  readGenerations,
  switchToBuilding,
  watchGenerations,
  writtenGenerations,
} from './generation.ts';
import { keyspace } from './keys.ts';
import { startRedisCluster } from './redis-cluster.ts';

describe('generations of the projections (real Redis)', () => {
  test('the pointer: absent means generation "", a build, a switch, an abort, each refused when out of turn', async () => {
    await using ctx = await openTestContext('gen-pointer');
    const store = ctx.redisStore();
    const base = ctx.redisPrefix;
    expect(await readGenerations(store, base)).toEqual({ live: '', retiring: [], seq: 0, changedAt: 0 });
    expect(generationPrefix(base, '')).toBe(base); // keys written before generations existed stay live
    expect(generationPrefix(base, 'g1')).toBe(`${base}g1:`);

    const listener = store.duplicate();
    const published: string[] = [];
    listener.on('message', (_channel: string, message: string) => published.push(message));
    await listener.subscribe(pointerKey(base));

    const begun = await beginBuild(store, base, 1000);
    expect(begun).toEqual({ live: '', building: 'g1', buildingSince: 1000, retiring: [], seq: 1, changedAt: 1000 });
    expect(writtenGenerations(begun)).toEqual(['', 'g1']);
    await expect(beginBuild(store, base)).rejects.toMatchObject({
      code: 'BUILD_IN_PROGRESS',
      message: expect.stringMatching(/g1 .*--resume.*--abort/) as unknown,
    });
    await expect(switchToBuilding(store, base, 'g7')).rejects.toMatchObject({ code: 'NOT_THAT_BUILD' });

    const { before, after } = await switchToBuilding(store, base, 'g1', 2000);
    expect(before.live).toBe('');
    expect(after).toEqual({ live: 'g1', retiring: [''], seq: 1, changedAt: 2000 });
    expect(writtenGenerations(after)).toEqual(['g1']);
    await expect(switchToBuilding(store, base, 'g1')).rejects.toMatchObject({ code: 'NO_BUILD' });

    expect((await beginBuild(store, base)).building).toBe('g2');
    const aborted = await abortBuild(store, base, 'g2');
    expect(aborted.after).toMatchObject({ live: 'g1', retiring: ['', 'g2'] });
    expect(aborted.after.building).toBeUndefined();
    await expect(abortBuild(store, base)).rejects.toMatchObject({ code: 'NO_BUILD' });
    expect((await markRetired(store, base, '')).retiring).toEqual(['g2']);
    // a name is never handed out twice, even after an abort
    expect((await beginBuild(store, base)).building).toBe('g3');

    // every change was published, in order, as the new value
    await eventually('six changes published', () => Promise.resolve(published.length === 6 ? true : undefined));
    expect(published.map((m) => (JSON.parse(m) as Generations).building ?? '-')).toEqual([
      'g1',
      '-',
      'g2',
      '-',
      '-',
      'g3',
    ]);
    listener.disconnect();

    await store.set(pointerKey(base), '{"live":"nope"}');
    await expect(readGenerations(store, base)).rejects.toMatchObject({ code: 'BAD_POINTER' });
  });

  test('builds begun at once: exactly one wins (compare-and-set)', async () => {
    await using ctx = await openTestContext('gen-race');
    const store = ctx.redisStore();
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => beginBuild(store, ctx.redisPrefix)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'BUILD_IN_PROGRESS' });
    }
    expect(await readGenerations(store, ctx.redisPrefix)).toMatchObject({ building: 'g1', seq: 1 });
  });

  test('a watcher follows the switch at once through the channel, and by its timer when a change was not published', async () => {
    await using ctx = await openTestContext('gen-watch');
    const store = ctx.redisStore();
    const base = ctx.redisPrefix;
    const changes: string[] = [];
    await using watcher = await watchGenerations(store, base, {
      refreshMs: 600_000, // only the channel can tell it in time
      onChange: (now) => changes.push(now.live),
    });
    expect(watcher.livePrefix()).toBe(base);
    expect(watcher.keys().profile('u1')).toBe(`${base}{u:u1}:profile`);
    await beginBuild(store, base);
    await switchToBuilding(store, base, 'g1');
    await eventually('the watcher to see g1', () =>
      Promise.resolve(watcher.current().live === 'g1' ? true : undefined),
    );
    expect(watcher.keys().profile('u1')).toBe(`${base}g1:{u:u1}:profile`);
    expect(changes).toContain('g1');

    await using polling = await watchGenerations(store, base, { refreshMs: 100 });
    // set behind the watchers' backs, without a message
    await store.set(pointerKey(base), JSON.stringify({ live: 'g5', retiring: [], seq: 5, changedAt: 1 }));
    await eventually('the polling watcher to see g5', () =>
      Promise.resolve(polling.current().live === 'g5' ? true : undefined),
    );
    expect(watcher.current().live).toBe('g1');
  });

  test('deleting a generation removes its keys and nothing else', async () => {
    await using ctx = await openTestContext('gen-delete');
    const cache = ctx.redis();
    const base = ctx.redisPrefix;
    const write = async (prefix: string, n: number) => {
      const ks = keyspace(prefix);
      for (let i = 0; i < n; i++) {
        await cache.hset(ks.profile(`u${i}`), 'uv', '1');
        await cache.hset(ks.roomMembers(`r${i}`), `u${i}`, '1');
        await cache.zadd(ks.conversationRecent(`c${i}`), i, `m${i}`);
      }
    };
    await write(base, 700); // more than one SCAN batch
    await write(generationPrefix(base, 'g1'), 5);
    await write(generationPrefix(base, 'g2'), 5);
    await cache.set(`${base}{u:1}:lease`, 'x'); // not a projection's shape: not generation ''s
    await cache.set(pointerKey(base), '{}');
    expect(await countGenerationKeys(cache, base, '')).toBe(2100);
    expect(await countGenerationKeys(cache, base, 'g1')).toBe(15);

    const batches: number[] = [];
    expect(await deleteGenerationKeys(cache, base, '', { onBatch: (n) => batches.push(n) })).toBe(2100);
    expect(batches.length).toBeGreaterThan(1);
    expect(await deleteGenerationKeys(cache, base, 'g1')).toBe(15);
    const left = (await cache.keys(`${base}*`)).sort();
    expect(left.filter((k) => k.startsWith(`${base}g2:`))).toHaveLength(15);
    expect(left.filter((k) => !k.startsWith(`${base}g2:`))).toEqual([
      `${base}projections:generation`,
      `${base}{u:1}:lease`,
    ]);
  });

  test('deleting a generation on a Redis Cluster reaches every master', async () => {
    await using cluster = await startRedisCluster();
    const client = new Cluster(cluster.nodes);
    try {
      for (const prefix of ['c:g1:', 'c:g2:']) {
        const ks = keyspace(prefix);
        for (let i = 0; i < 60; i++) await client.hset(ks.profile(`u${i}`), 'uv', '1');
      }
      const perNode = await Promise.all(client.nodes('master').map((n) => n.dbsize()));
      expect(perNode.every((n) => n > 0)).toBe(true);
      expect(await deleteGenerationKeys(client, 'c:', 'g1')).toBe(60);
      expect(await countGenerationKeys(client, 'c:', 'g1')).toBe(0);
      expect(await countGenerationKeys(client, 'c:', 'g2')).toBe(60);
    } finally {
      client.disconnect();
    }
  }, 60_000);
});
