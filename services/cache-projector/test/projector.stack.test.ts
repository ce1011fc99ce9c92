import crypto from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { keyspace } from '@bgc/cache/keys';
import { presentMembers } from '@bgc/cache/scripts';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import type { TestContext } from '@bgc/testkit/context';
import { client, signUp } from '../../write-api/test/client.ts';
import { startWriteApi } from '../../write-api/test/server.ts';
import { cdcNames, startCdc } from '../../cdc/test/cdc-process.ts';
import { readUntil } from '../../cdc/test/topic-reader.ts';
import { deadLetterTopic } from '../src/service.ts';
import { startProjector } from './projector-process.ts';

/** Every key of the context and its content, for comparing two states of Redis. */
async function dump(ctx: TestContext): Promise<Record<string, unknown>> {
  const redis = ctx.redis();
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${ctx.redisPrefix}*`, 'COUNT', 1000);
    keys.push(...found);
    cursor = next;
  } while (cursor !== '0');
  const out: Record<string, unknown> = {};
  for (const key of keys.sort()) {
    const type = await redis.type(key);
    out[key] =
      type === 'hash'
        ? await redis.hgetall(key)
        : type === 'zset'
          ? await redis.zrange(key, '0', '-1', 'WITHSCORES')
          : type;
  }
  return out;
}

describe('cache-projector: CDC topics into Redis projections', () => {
  test('writes through the API become projections; a replay from the start by a new group changes nothing; a bad event is dead-lettered and the rest goes on', async () => {
    await using ctx = await openTestContext('projector', { migrated: true });
    const ks = keyspace(ctx.redisPrefix);
    const redis = ctx.redis();
    await using _cdc = await startCdc(ctx);
    // write-through off: the projections below are the projector's own work
    await using server = await startWriteApi(ctx, { BGC_WRITE_API_WRITE_THROUGH: 'false' });
    await using projector = await startProjector(ctx);
    const api = client(server.url);

    const ann = await signUp(api, 'Ann');
    const bob = await signUp(api, 'Bob');
    const room = await api.post<{ id: string }>('/v1/rooms', { name: 'lobby' }, { token: ann.token });
    expect((await api.post(`/v1/rooms/${room.body.id}/join`, {}, { token: bob.token })).status).toBe(200);
    const traceId = crypto.randomBytes(16).toString('hex');
    const sent: string[] = [];
    for (const [i, who] of [ann, bob, ann].entries()) {
      const r = await api.post<{ id: string }>(
        `/v1/rooms/${room.body.id}/messages`,
        { content: `hello ${i}` },
        { token: who.token, headers: { traceparent: `00-${traceId}-${crypto.randomBytes(8).toString('hex')}-01` } },
      );
      sent.push(r.body.id);
    }
    expect((await api.post('/v1/friends/requests', { userId: bob.id }, { token: ann.token })).status).toBe(201);
    expect((await api.post(`/v1/friends/requests/${ann.id}/accept`, {}, { token: bob.token })).status).toBe(200);
    expect((await api.post('/v1/follows', { userId: ann.id }, { token: bob.token })).status).toBe(201);

    // the projections appear
    const profile = await eventually('Ann’s profile document', async () => {
      const doc = await redis.hgetall(ks.profile(ann.id));
      return doc.u && doc.p ? doc : undefined;
    });
    expect(JSON.parse(profile.u ?? '{}')).toMatchObject({ id: ann.id, name: 'Ann' });
    expect(profile.u).not.toContain('password');
    await eventually('room members', async () => {
      const members = presentMembers(await redis.hgetall(ks.roomMembers(room.body.id)));
      return members.get(ann.id) === 'OWNER' && members.get(bob.id) === 'MEMBER' ? members : undefined;
    });
    expect([...presentMembers(await redis.hgetall(ks.rooms(bob.id))).keys()]).toEqual([room.body.id]);
    const recent = await eventually('the recent messages', async () => {
      const ids = await redis.zrevrange(ks.roomRecent(room.body.id), 0, -1);
      return ids.length === 3 ? ids : undefined;
    });
    expect(recent).toEqual([...sent].reverse());
    const body = await redis.hget(ks.roomBodies(room.body.id), sent[1] ?? '');
    expect(JSON.parse(body?.slice(21) ?? '{}')).toMatchObject({ content: 'hello 1', sender_id: bob.id });
    await eventually('the friendship on both sides and the follow', async () => {
      const annFriends = presentMembers(await redis.hgetall(ks.friends(ann.id)));
      const bobFriends = presentMembers(await redis.hgetall(ks.friends(bob.id)));
      const followers = presentMembers(await redis.hgetall(ks.followers(ann.id)));
      return annFriends.has(`${bob.id}>`) && bobFriends.has(`${ann.id}<`) && followers.has(bob.id) ? true : undefined;
    });

    // a replay: a new group reads every topic from the beginning; the state must come out the same
    const before = await dump(ctx);
    expect(await projector.stop()).toBe(0);
    await using replay = await startProjector(ctx, {}, `projector-${ctx.id}-replay`);
    const metricsOf = async () => (await fetch(`${replay.url}/metrics`)).text();
    await eventually('the replay to read everything', async () => {
      const text = await metricsOf();
      const lags = [...text.matchAll(/^projector_consumer_lag\{[^}]*\} (\d+)/gm)].map((m) => Number(m[1]));
      return lags.length > 0 && lags.every((l) => l === 0) && /outcome="unchanged"/.test(text) ? true : undefined;
    });
    expect(await dump(ctx)).toEqual(before);
    expect(await metricsOf()).not.toMatch(/projector_events_total\{[^}]*outcome="applied"[^}]*\} [1-9]/);

    // a malformed event goes to the dead-letter topic with its error; later events are still applied
    const { prefix } = cdcNames(ctx);
    const producer = ctx.kafka('bad-producer').producer();
    await producer.connect();
    await producer.send({ topic: `${prefix}.public.users`, messages: [{ key: '{"id":"x"}', value: 'not json' }] });
    await producer.disconnect();
    const renamed = await api.patch(`/v1/me`, { name: 'Ann B' }, { token: ann.token });
    expect(renamed.status).toBe(200);
    await eventually('the rename after the bad event', async () => {
      const u = await redis.hget(ks.profile(ann.id), 'u');
      return u?.includes('Ann B') ? true : undefined;
    });
    const dead = await readUntil(ctx, [deadLetterTopic(prefix)], (rs) => rs.length > 0);
    expect(dead[0]?.value).toBe('not json');
    expect(dead[0]?.headers['bgc.error']).toMatch(/JSON/);
    expect(dead[0]?.headers['bgc.source.topic']).toBe(`${prefix}.public.users`);
    expect(await replay.stop()).toBe(0);

    // the send's trace reaches the projector's span in Jaeger
    const names = await eventually(
      'the projector’s span in the trace',
      async () => {
        const res = await fetch(`${ctx.urls.jaegerUrl}/api/traces/${traceId}`);
        if (!res.ok) return undefined;
        const t = (
          (await res.json()) as {
            data: {
              spans: { operationName: string; processID: string }[];
              processes: Record<string, { serviceName: string }>;
            }[];
          }
        ).data[0];
        const seen = t ? t.spans.map((s) => `${t.processes[s.processID]?.serviceName}:${s.operationName}`) : [];
        return seen.includes('cache-projector:cache-projector apply messages') ? seen : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(names).toContain('cdc:cdc publish messages');
    expect(names.some((n) => n.startsWith('write-api:POST'))).toBe(true);
  });
});
