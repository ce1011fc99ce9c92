import { describe, expect, test } from 'vitest';
import { FLOOR } from '@bgc/cache/front-page';
import { keyspace } from '@bgc/cache/keys';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import type { ServiceProcess } from '@bgc/testkit/service-process';
import { seededRandom } from '@bgc/testkit/seeded-random';
import { client, signUp } from '../../write-api/test/client.ts';
import type { Api } from '../../write-api/test/client.ts';
import { startWriteApi } from '../../write-api/test/server.ts';
import { startCdc } from '../../cdc/test/cdc-process.ts';
import { startReadApi } from '../../read-api/test/processes.ts';
import { audit } from '../src/audit.ts';
import { startProjector } from './projector-process.ts';

describe('cache-projector: crashes lose nothing', () => {
  test('random concurrent writes while the projector is killed with -9 and restarted: the auditor then finds no mismatch', async () => {
    const seed = Date.now() % 100_000;
    const random = seededRandom(seed);
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
    // conversations: [0, 1] and [2, 3, 4]
    const conversations: { id: string; members: typeof users }[] = [];
    for (const group of [users.slice(0, 2), users.slice(2, 5)]) {
      const [owner, ...others] = group;
      const made = await api.post<{ id: string }>(
        '/v1/conversations',
        { participantIds: others.map((u) => u.id) },
        { token: owner?.token },
      );
      conversations.push({ id: made.body.id, members: group });
    }
    // a forum category (made by the migrator: only administrators make them) whose front page the read API fills
    // from the database on its first read; from then on the projector keeps it in step
    const migrator = await ctx.connectAs('migrator');
    const category = (
      await migrator.query<{ id: string }>(`INSERT INTO forum_categories (slug, name) VALUES ('c', 'C') RETURNING id`)
    ).rows[0]?.id;
    const threads: string[] = [];
    for (let i = 0; i < 3; i++) {
      const made = await api.post<{ thread: { id: string } }>(
        `/v1/forum/categories/${category}/threads`,
        { title: `thread ${i}`, content: 'first' },
        { token: users[i]?.token },
      );
      threads.push(made.body.thread.id);
    }
    await using reader = await startReadApi(ctx);
    const read = client(reader.url);
    const readFrontPage = async () => {
      const r = await read.get(`/v1/forum/categories/${category}/threads?limit=10`, { token: users[0]?.token });
      expect(r.status).toBe(200);
    };
    await readFrontPage();

    // one random write; failures the API answers with 4xx (not a member, no such request, …) are fine
    const step = async () => {
      const me = pick(users);
      const other = pick(users.filter((u) => u !== me));
      const room = pick(rooms);
      const r = random();
      if (r < 0.25) {
        const sent = await api.post<{ id: string }>(
          `/v1/rooms/${room}/messages`,
          { content: `m ${random()}` },
          { token: me.token },
        );
        if (sent.status === 201) messages.push({ id: sent.body.id, token: me.token });
      } else if (r < 0.33) await api.post(`/v1/rooms/${room}/join`, {}, { token: me.token });
      else if (r < 0.37) await api.post(`/v1/rooms/${room}/leave`, {}, { token: me.token });
      else if (r < 0.45) await api.post('/v1/friends/requests', { userId: other.id }, { token: me.token });
      else if (r < 0.53) await api.post(`/v1/friends/requests/${other.id}/accept`, {}, { token: me.token });
      else if (r < 0.57) await api.del(`/v1/friends/${other.id}`, { token: me.token });
      else if (r < 0.63) await api.post('/v1/follows', { userId: other.id }, { token: me.token });
      else if (r < 0.67) await api.del(`/v1/follows/${other.id}`, { token: me.token });
      else if (r < 0.72) await api.patch('/v1/me/profile', { bio: `bio ${random()}` }, { token: me.token });
      else if (r < 0.8) {
        const conversation = pick(conversations);
        const sender = pick(conversation.members);
        const sent = await api.post<{ id: string }>(
          `/v1/conversations/${conversation.id}/messages`,
          { content: `c ${random()}` },
          { token: sender.token },
        );
        if (sent.status === 201) messages.push({ id: sent.body.id, token: sender.token });
      } else if (r < 0.83) {
        const made = await api.post<{ thread: { id: string } }>(
          `/v1/forum/categories/${category}/threads`,
          { title: `t ${random()}`, content: 'first' },
          { token: me.token },
        );
        if (made.status === 201) threads.push(made.body.thread.id);
      } else if (r < 0.87) {
        // a reply lifts its thread to the top of the front page
        await api.post(`/v1/forum/threads/${pick(threads)}/posts`, { content: `r ${random()}` }, { token: me.token });
      } else if (r < 0.88) await readFrontPage();
      else if (r < 0.94 && messages.length > 0) {
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
    expect(result).toMatchObject({ users: 8, rooms: 3, conversations: 2, categories: 1 });
    expect(Object.keys(await redis.hgetall(keys.profile(users[0]?.id ?? ''))).sort()).toEqual([
      'c',
      'cv',
      'p',
      'pv',
      'u',
      'uv',
    ]);
    expect(await redis.zcard(keys.roomRecent(rooms[0] ?? ''))).toBeGreaterThan(0);
    // what was audited was there: the conversations' lists and the front page (its floor, and threads above it)
    const conversation = conversations[1]?.id ?? '';
    const [heldMessage] = await redis.zrange(keys.conversationRecent(conversation), '0', '0');
    expect(heldMessage).toBeDefined();
    expect(await redis.zscore(keys.forumFront(category ?? ''), FLOOR)).not.toBeNull();
    const [heldThread] = await redis.zrangebyscore(keys.forumFront(category ?? ''), '(-inf', '+inf');
    expect(heldThread).toBeDefined();

    // the auditor does see a wrong projection: a stale profile part, wrong counts, a stale message body and thread
    const stale = (json: string | null) => `00000000000000000000|${json?.slice(json.indexOf('|') + 1) ?? ''}`;
    await redis.hset(keys.profile(users[1]?.id ?? ''), 'uv', '00000000000000000000');
    await redis.hset(keys.profile(users[2]?.id ?? ''), 'c', '{"friends":99,"followers":0,"following":0,"blocking":0}');
    const body = await redis.hget(keys.conversationBodies(conversation), heldMessage ?? '');
    await redis.hset(keys.conversationBodies(conversation), heldMessage ?? '', stale(body));
    const thread = await redis.hget(keys.forumFrontBodies(category ?? ''), heldThread ?? '');
    await redis.hset(keys.forumFrontBodies(category ?? ''), heldThread ?? '', stale(thread));
    const wrong = await audit(db, redis, keys, { recentMessages: 100, settleMs: 100, rechecks: 1 });
    expect(wrong.mismatches.map((m) => m.key).sort()).toEqual(
      [
        keys.profile(users[1]?.id ?? ''),
        keys.profile(users[2]?.id ?? ''),
        keys.conversationRecent(conversation),
        keys.forumFront(category ?? ''),
      ].sort(),
    );
    expect(await projector.stop()).toBe(0);
  }, 180_000);
});
