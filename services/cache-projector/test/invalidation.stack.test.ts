import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { InvalidationListener } from '@bgc/cache/invalidation';
import { keyspace } from '@bgc/cache/keys';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import { client, signUp } from '../../write-api/test/client.ts';
import { startWriteApi } from '../../write-api/test/server.ts';
import { startCdc } from '../../cdc/test/cdc-process.ts';
import { startProjector } from './projector-process.ts';

describe('cache-projector: invalidations', () => {
  test('each chunk publishes the keys it changed once Redis holds them; nothing when switched off or unchanged', async () => {
    await using ctx = await openTestContext('projector-invalidation', { migrated: true });
    const ks = keyspace(ctx.redisPrefix);
    const redis = ctx.redis();
    await using _cdc = await startCdc(ctx);
    // write-through off: every change below is the projector's own
    await using server = await startWriteApi(ctx, { BGC_WRITE_API_WRITE_THROUGH: 'false' });
    const api = client(server.url);

    const published: string[] = [];
    // the user part of each published profile, read as soon as the message arrives
    const readOnArrival: Promise<string | null>[] = [];
    const check = ctx.redis();
    const listener = new InvalidationListener(ctx.redis(), ctx.redisPrefix, {
      onKeys(keys) {
        published.push(...keys);
        for (const key of keys) if (key.endsWith(':profile')) readOnArrival.push(check.hget(key, 'u'));
      },
      onReset: () => undefined,
    });
    await listener.start();
    try {
      // switched off: the projections are written, nothing is published
      const quiet = await startProjector(ctx, { BGC_PROJECTOR_INVALIDATIONS: 'false' });
      const bob = await signUp(api, 'Bob');
      await eventually('Bob’s profile', async () => {
        const [u, p] = await redis.hmget(ks.profile(bob.id), 'u', 'p');
        return u && p ? true : undefined;
      });
      await sleep(500);
      expect(published).toEqual([]);
      expect(await quiet.stop()).toBe(0);

      // on (the default), in a new group that reads every topic again: Bob's events change nothing, Ann's do
      await using projector = await startProjector(ctx, {}, `projector-${ctx.id}-on`);
      const ann = await signUp(api, 'Ann');
      await eventually('Ann’s profile key', () =>
        Promise.resolve(published.includes(ks.profile(ann.id)) ? true : undefined),
      );
      const seenOnArrival = async () => (await Promise.all(readOnArrival)).map((u) => JSON.parse(u ?? '{}') as object);
      expect(await seenOnArrival()).toContainEqual(expect.objectContaining({ id: ann.id, name: 'Ann' }));
      await eventually('Bob’s events read again, unchanged', async () => {
        const text = await (await fetch(`${projector.url}/metrics`)).text();
        const unchanged = [...text.matchAll(/^projector_events_total\{[^}]*outcome="unchanged"[^}]*\} (\d+)/gm)];
        return unchanged.reduce((n, m) => n + Number(m[1]), 0) >= 2 ? true : undefined;
      });
      expect(published).not.toContain(ks.profile(bob.id));

      // an update publishes the key again, and Redis holds the new state when the message arrives
      expect((await api.patch('/v1/me', { name: 'Ann B' }, { token: ann.token })).status).toBe(200);
      await eventually('the rename published', async () =>
        (await seenOnArrival()).some((u) => (u as { name?: string }).name === 'Ann B') ? true : undefined,
      );
      expect(await projector.stop()).toBe(0);
    } finally {
      await listener.stop();
    }
  });
});
