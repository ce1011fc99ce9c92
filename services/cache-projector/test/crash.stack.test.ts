import { describe, expect, test } from 'vitest';
import { keyspace } from '@bgc/cache/keys';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import type { ServiceProcess } from '@bgc/testkit/service-process';
import { client, signUp } from '../../write-api/test/client.ts';
import type { Api } from '../../write-api/test/client.ts';
import { startWriteApi } from '../../write-api/test/server.ts';
import { startCdc } from '../../cdc/test/cdc-process.ts';
import { audit } from '../src/audit.ts';
import { startProjector } from './projector-process.ts';

/** A small deterministic PRNG, so a failing run can be replayed from its seed. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('cache-projector: crashes lose nothing', () => {
  test('random concurrent writes while the projector is killed with -9 and restarted: the auditor then finds no mismatch', async () => {
    const seed = Date.now() % 100_000;
    const random = prng(seed);
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)] as T;
    await using ctx = await openTestContext('projector-crash', { migrated: true });
    await using _cdc = await startCdc(ctx);
    await using server = await startWriteApi(ctx);
    const api: Api = client(server.url);
    const users: Awaited<ReturnType<typeof signUp>>[] = [];
    for (let i = 0; i < 8; i++) users.push(await signUp(api, `U${i}`));
    const rooms: string[] = [];
    for (let i = 0; i < 3; i++) {
      rooms.push(
        (await api.post<{ id: string }>('/v1/rooms', { name: `room ${i}` }, { token: users[i]?.token })).body.id,
      );
    }
    const messages: { id: string; token: string }[] = [];

    // one random write; failures the API answers with 4xx (not a member, no such request, …) are fine
    const step = async () => {
      const me = pick(users);
      const other = pick(users.filter((u) => u !== me));
      const room = pick(rooms);
      const r = random();
      if (r < 0.3) {
        const sent = await api.post<{ id: string }>(
          `/v1/rooms/${room}/messages`,
          { content: `m ${random()}` },
          { token: me.token },
        );
        if (sent.status === 201) messages.push({ id: sent.body.id, token: me.token });
      } else if (r < 0.4) await api.post(`/v1/rooms/${room}/join`, {}, { token: me.token });
      else if (r < 0.45) await api.post(`/v1/rooms/${room}/leave`, {}, { token: me.token });
      else if (r < 0.55) await api.post('/v1/friends/requests', { userId: other.id }, { token: me.token });
      else if (r < 0.65) await api.post(`/v1/friends/requests/${other.id}/accept`, {}, { token: me.token });
      else if (r < 0.7) await api.del(`/v1/friends/${other.id}`, { token: me.token });
      else if (r < 0.78) await api.post('/v1/follows', { userId: other.id }, { token: me.token });
      else if (r < 0.83) await api.del(`/v1/follows/${other.id}`, { token: me.token });
      else if (r < 0.9) await api.patch('/v1/me/profile', { bio: `bio ${random()}` }, { token: me.token });
      else if (r < 0.95 && messages.length > 0) {
        const m = pick(messages);
        await api.patch(`/v1/messages/${m.id}`, { content: `edited ${random()}` }, { token: m.token });
      } else if (messages.length > 0) {
        const m = pick(messages);
        await api.del(`/v1/messages/${m.id}`, { token: m.token });
      }
    };

    let projector: ServiceProcess = await startProjector(ctx);
    let writing = true;
    const writers = Array.from({ length: 4 }, async () => {
      let n = 0;
      while (writing) {
        await step();
        n += 1;
      }
      return n;
    });
    let steps: number | undefined;
    try {
      for (let kill = 0; kill < 3; kill++) {
        await new Promise((r) => setTimeout(r, 1500 + random() * 2500));
        await projector.kill(); // kill -9: no chance to commit what it applied
        await new Promise((r) => setTimeout(r, random() * 1000));
        projector = await startProjector(ctx);
      }
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      writing = false;
      steps = (await Promise.all(writers)).reduce((a, b) => a + b, 0);
    }

    await eventually(
      'the projector to catch up: every partition at its end',
      async () => {
        const text = await (await fetch(`${projector.url}/metrics`)).text();
        const lags = [...text.matchAll(/^projector_consumer_lag\{[^}]*\} (\d+)/gm)].map((m) => Number(m[1]));
        return lags.length >= 6 && lags.every((l) => l === 0) ? true : undefined;
      },
      { intervalMs: 300 },
    );

    const db = await ctx.pg('primary');
    const redis = ctx.redis();
    const keys = keyspace(ctx.redisPrefix);
    const result = await audit(db, redis, keys, { recentMessages: 100, settleMs: 1000, rechecks: 5 });
    expect(result.mismatches, `seed ${seed}, ${steps} writes`).toEqual([]);
    expect(result.users).toBe(8);
    expect(Object.keys(await redis.hgetall(keys.profile(users[0]?.id ?? ''))).sort()).toEqual(['p', 'pv', 'u', 'uv']);
    expect(await redis.zcard(keys.roomRecent(rooms[0] ?? ''))).toBeGreaterThan(0);

    // the auditor does see a wrong projection
    await redis.hset(keys.profile(users[1]?.id ?? ''), 'uv', '00000000000000000000');
    const wrong = await audit(db, redis, keys, { recentMessages: 100, settleMs: 100, rechecks: 1 });
    expect(wrong.mismatches.map((m) => m.key)).toEqual([keys.profile(users[1]?.id ?? '')]);
    expect(await projector.stop()).toBe(0);
  }, 180_000);
});
