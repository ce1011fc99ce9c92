import crypto from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { keyspace } from '@bgc/cache/keys';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import { caughtUp, replayedOn } from '@bgc/testkit/replica';
import { client, signUp } from '../../write-api/test/client.ts';
import { startWriteApi } from '../../write-api/test/server.ts';
import { metric, startPipeline, startReadApi } from './processes.ts';

interface Profile {
  id: string;
  name: string;
  email?: string;
  bio: string | null;
  counts: { friends: number; followers: number; following: number };
}
interface Message {
  id: string;
  content: string;
  createdAt: string;
  sender: { id: string; name: string };
}
interface Page<T> {
  items: T[];
  hasNext: boolean;
  next: string | null;
  totalEstimate: number | null;
}

describe('read-api: writes through the write API are read back from Redis', () => {
  test('a profile and a room’s newest messages come from the projections (the send traced through write-api, cdc and cache-projector); later pages from the replica', async () => {
    await using ctx = await openTestContext('rapi-read-path', { migrated: true });
    await using pipeline = await startPipeline(ctx);
    await using reader = await startReadApi(ctx);
    const api = client(pipeline.writeApi.url);
    const read = client(reader.url);
    const ks = keyspace(ctx.redisPrefix);
    const redis = ctx.redis();

    const ann = await signUp(api, 'Ann');
    const bob = await signUp(api, 'Bob');
    expect((await api.patch('/v1/me/profile', { bio: 'plays chess' }, { token: ann.token })).status).toBe(200);
    expect((await api.post('/v1/follows', { userId: ann.id }, { token: bob.token })).status).toBe(201);

    // Ann's document is in Redis (written through, then projected), her counts in it: the read API answers from it
    // (a Redis hit, not a fill) once the projector has applied the follow
    await eventually('Ann’s projected document, the follow counted', async () => {
      const doc = await redis.hgetall(ks.profile(ann.id));
      return doc.p?.includes('plays chess') && doc.c?.includes('"followers":1,') ? doc : undefined;
    });
    const profile = await read.get<Profile>(`/v1/users/${ann.id}`, { token: bob.token });
    expect(profile.status).toBe(200);
    expect(profile.headers.get('cache')).toBe('hit');
    expect(profile.body).toMatchObject({ id: ann.id, name: 'Ann', bio: 'plays chess', counts: { followers: 1 } });
    expect(profile.body.email).toBeUndefined(); // only for oneself
    // the profile and its counts took no database read
    expect(profile.headers.get('read-from')).toBeNull();
    expect(await metric(reader.url, 'cache_lookups_total', 'keyspace="profile",outcome="hit"')).toBe(1);
    expect(await metric(reader.url, 'cache_lookups_total', 'keyspace="profile",outcome="miss"')).toBeNaN();
    // the second read is served in process
    await eventually('Ann’s profile in L1', async () => {
      const again = await read.get<Profile>(`/v1/users/${ann.id}`, { token: bob.token });
      return again.headers.get('cache') === 'l1' ? true : undefined;
    });
    const own = await read.get<Profile>(`/v1/users/${ann.id}`, { token: ann.token });
    expect(own.body.email).toBe(ann.email);

    // a room with 5 messages: a page of 3 comes from the recent list, the rest from the replica
    const room = await api.post<{ id: string }>('/v1/rooms', { name: 'lobby' }, { token: ann.token });
    expect((await api.post(`/v1/rooms/${room.body.id}/join`, {}, { token: bob.token })).status).toBe(200);
    const sent: string[] = [];
    let lastLsn = '';
    // the newest message's trace is followed below, from the HTTP request to the projector
    const traceId = crypto.randomBytes(16).toString('hex');
    for (let i = 0; i < 5; i++) {
      const who = i % 2 === 0 ? ann : bob;
      const traceparent = `00-${traceId}-${crypto.randomBytes(8).toString('hex')}-01`;
      const r = await api.post<{ id: string }>(
        `/v1/rooms/${room.body.id}/messages`,
        { content: `hello ${i}` },
        { token: who.token, ...(i === 4 ? { headers: { traceparent } } : {}) },
      );
      sent.push(r.body.id);
      lastLsn = r.headers.get('commit-lsn') ?? '';
    }
    await eventually('the recent list', async () =>
      (await redis.zcard(ks.roomRecent(room.body.id))) === 5 ? true : undefined,
    );
    const first = await read.get<Page<Message>>(`/v1/rooms/${room.body.id}/messages?limit=3`, { token: bob.token });
    expect(first.status).toBe(200);
    expect(first.headers.get('cache')).toBe('hit');
    expect(first.body.items.map((m) => m.id)).toEqual(sent.slice(2).reverse());
    expect(first.body.items[0]).toMatchObject({ content: 'hello 4', sender: { id: ann.id, name: 'Ann' } });
    expect(first.body.hasNext).toBe(true);
    // the message read back from Redis has one trace with spans from the write API, the CDC and the projector
    const services = await eventually(
      'the send’s trace in Jaeger, through the projector',
      async () => {
        const res = await fetch(`${ctx.urls.jaegerUrl}/api/traces/${traceId}`);
        if (!res.ok) return undefined;
        const trace = ((await res.json()) as { data: { processes: Record<string, { serviceName: string }> }[] })
          .data[0];
        const names = new Set(Object.values(trace?.processes ?? {}).map((p) => p.serviceName));
        return ['write-api', 'cdc', 'cache-projector'].every((n) => names.has(n)) ? names : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect([...services].sort()).toEqual(expect.arrayContaining(['cache-projector', 'cdc', 'write-api']));
    // Redis having the messages says nothing of the replica (it may lag behind the projector on a busy machine)
    const replica = await ctx.pg('replica');
    await replayedOn(replica, lastLsn, 'the sends replayed on the replica');
    const second = await read.get<Page<Message>>(
      `/v1/rooms/${room.body.id}/messages?limit=3&cursor=${first.body.next}`,
      { token: bob.token },
    );
    expect(second.headers.get('read-from')).toBe('replica');
    expect(second.body.items.map((m) => m.id)).toEqual(sent.slice(0, 2).reverse());
    expect(second.body).toMatchObject({ hasNext: false, next: null });
    // the same page from the database is the same page
    const fromDb = await read.get<Page<Message>>(`/v1/rooms/${room.body.id}/messages?limit=3`, {
      token: bob.token,
      headers: { 'commit-lsn': '0/0' },
    });
    expect(fromDb.headers.get('cache')).toBe('bypass');
    expect(fromDb.body.items).toEqual(first.body.items);
    expect(fromDb.body.next).toBe(first.body.next);
    // more than the list holds: the database answers
    const all = await read.get<Page<Message>>(`/v1/rooms/${room.body.id}/messages?limit=10`, { token: bob.token });
    expect(all.headers.get('cache')).toBe('miss');
    expect(all.body.items.map((m) => m.id)).toEqual([...sent].reverse());
    expect(await metric(reader.url, 'cache_lookups_total', 'keyspace="room_history",outcome="hit"')).toBe(1);
  });

  test('a deactivated user’s document is filled once and then held in Redis: their profile is not found, and the database is not asked again', async () => {
    await using ctx = await openTestContext('rapi-deactivated', { migrated: true });
    await using writeApi = await startWriteApi(ctx);
    await using reader = await startReadApi(ctx);
    const api = client(writeApi.url);
    const read = client(reader.url);
    const ks = keyspace(ctx.redisPrefix);
    const redis = ctx.redis();
    const ann = await signUp(api, 'Ann');
    const bob = await signUp(api, 'Bob');
    // deactivated by an operator (the write API has no such route), and Bob's document gone from Redis (evicted)
    const primary = await ctx.pg('primary');
    await primary.query('UPDATE users SET is_active = false WHERE id = $1', [bob.id]);
    await caughtUp(primary, await ctx.pg('replica'), 'Bob deactivated on the replica');
    await redis.del(ks.profile(bob.id));

    const first = await read.get(`/v1/users/${bob.id}`, { token: ann.token });
    expect(first.status).toBe(404);
    expect(await metric(reader.url, 'cache_lookups_total', 'keyspace="profile",outcome="miss"')).toBe(1);
    // the fill kept what the projector would: the user part, inactive
    const held = await redis.hgetall(ks.profile(bob.id));
    expect(JSON.parse(held.u ?? '{}')).toMatchObject({ id: bob.id, name: 'Bob', is_active: false });
    const second = await read.get(`/v1/users/${bob.id}`, { token: ann.token });
    expect(second.status).toBe(404);
    // from Redis or the L1, not the database
    expect(await metric(reader.url, 'cache_lookups_total', 'keyspace="profile",outcome="miss"')).toBe(1);
    const redisHits = await metric(reader.url, 'cache_lookups_total', 'keyspace="profile",outcome="hit"');
    const l1Hits = await metric(reader.url, 'cache_lookups_total', 'keyspace="profile",outcome="l1_hit"');
    expect((redisHits || 0) + (l1Hits || 0)).toBe(1);
  });
});
