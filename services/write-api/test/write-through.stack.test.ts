import { describe, expect, test } from 'vitest';
import { invalidationChannel } from '@bgc/cache/invalidation';
import { keyspace } from '@bgc/cache/keys';
import { presentMembers } from '@bgc/cache/scripts';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import { startCdc } from '../../cdc/test/cdc-process.ts';
import { startProjector } from '../../cache-projector/test/projector-process.ts';
import { client, signUp } from './client.ts';
import { startWriteApi } from './server.ts';

/** The sequence a membership field was last written with (30 digits before `|` or `-`). */
const sequenceOf = (stored: string | undefined) => stored?.slice(0, 30) ?? '';

async function writeThroughCount(metricsUrl: string, outcome: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('write_api_write_through_total') && l.includes(outcome));
  return Number(line?.split(' ').pop() ?? 0);
}

describe('write-api: write-through to the Redis projections', () => {
  test('a user sees their own profile and memberships at once; the bytes are the projector’s, whose later events change nothing', async () => {
    await using ctx = await openTestContext('write_through', { migrated: true });
    const ks = keyspace(ctx.redisPrefix);
    const redis = ctx.redis();
    // the CDC streams from the start (so the leave below is an event), but no projector runs yet: whatever is in
    // Redis until they start was written through
    await using _cdc = await startCdc(ctx);
    await using server = await startWriteApi(ctx);
    const api = client(server.url);

    const ann = await signUp(api, 'Ann');
    const bob = await signUp(api, 'Bob');
    // readers' in-process caches hear of each key written through (the projector's later no-op announces nothing)
    const subscriber = ctx.redis().duplicate();
    const announced: string[] = [];
    subscriber.on('message', (_channel: string, keys: string) => announced.push(...keys.split('\n')));
    await subscriber.subscribe(invalidationChannel(ctx.redisPrefix));
    expect(
      (await api.patch('/v1/me/profile', { bio: 'hello', interests: ['Chess'] }, { token: ann.token })).status,
    ).toBe(200);
    const afterEdit = await redis.hgetall(ks.profile(ann.id));
    expect(afterEdit.pv).toBe('2'.padStart(20, '0'));
    expect(JSON.parse(afterEdit.p ?? '{}')).toMatchObject({ user_id: ann.id, bio: 'hello', interests: ['chess'] });
    expect(JSON.parse(afterEdit.u ?? '{}')).toMatchObject({ id: ann.id, name: 'Ann' });
    expect(afterEdit.u).not.toContain('password');
    await eventually('the profile edit announced', () =>
      Promise.resolve(announced.includes(ks.profile(ann.id)) ? true : undefined),
    );
    subscriber.disconnect();

    const room = await api.post<{ id: string }>('/v1/rooms', { name: 'lobby' }, { token: ann.token });
    expect((await api.post(`/v1/rooms/${room.body.id}/join`, {}, { token: bob.token })).status).toBe(200);
    expect(presentMembers(await redis.hgetall(ks.roomMembers(room.body.id)))).toEqual(
      new Map([
        [ann.id, 'OWNER'],
        [bob.id, 'MEMBER'],
      ]),
    );
    expect([...presentMembers(await redis.hgetall(ks.rooms(bob.id))).keys()]).toEqual([room.body.id]);
    const conversation = await api.post<{ id: string }>(
      '/v1/conversations',
      { participantIds: [bob.id.toUpperCase()] },
      { token: ann.token },
    );
    expect(
      [...presentMembers(await redis.hgetall(ks.conversationMembers(conversation.body.id))).keys()].sort(),
    ).toEqual([ann.id, bob.id].sort());
    // a follow: both users' counts (which the triggers changed) are in their documents before the answer
    expect(JSON.parse((await redis.hget(ks.profile(bob.id), 'c')) ?? '{}')).toMatchObject({ following: 0 });
    expect((await api.post('/v1/follows', { userId: ann.id }, { token: bob.token })).status).toBe(201);
    expect(JSON.parse((await redis.hget(ks.profile(bob.id), 'c')) ?? '{}')).toMatchObject({ following: 1 });
    expect(JSON.parse((await redis.hget(ks.profile(ann.id), 'c')) ?? '{}')).toMatchObject({ followers: 1 });
    expect((await api.post(`/v1/rooms/${room.body.id}/leave`, {}, { token: bob.token })).status).toBe(204);
    expect(presentMembers(await redis.hgetall(ks.roomMembers(room.body.id))).has(bob.id)).toBe(false);
    expect(await writeThroughCount(server.url, 'applied')).toBeGreaterThanOrEqual(8);
    const written = await redis.hgetall(ks.profile(ann.id));
    const bobLeft = (await redis.hgetall(ks.roomMembers(room.body.id)))[bob.id];

    // now the projectors: one on the same keys, one on keys of its own (what it alone would write)
    await using _live = await startProjector(ctx);
    const alone = keyspace(`${ctx.redisPrefix}alone:`);
    await using _alone = await startProjector(
      ctx,
      { BGC_PROJECTOR_KEY_PREFIX: `${ctx.redisPrefix}alone:` },
      `alone-${ctx.id}`,
    );
    const projected = await eventually('the projector’s own document for Ann', async () => {
      const doc = await redis.hgetall(alone.profile(ann.id));
      return doc.pv === written.pv && doc.uv === written.uv && doc.cv === written.cv ? doc : undefined;
    });
    // byte for byte what the projector writes from the change events
    expect(projected).toEqual(written);
    // Bob's leave, as the projector alone has it: the same state, at the transaction's own (later) sequence
    const aloneLeft = await eventually('Bob’s leave, projected', async () => {
      const stored = (await redis.hgetall(alone.roomMembers(room.body.id)))[bob.id];
      return stored?.endsWith('-') ? stored : undefined;
    });
    expect(sequenceOf(bobLeft) < sequenceOf(aloneLeft)).toBe(true);
    // on the shared keys the projector's events were no-ops for the document and the same state for memberships
    await eventually('the live projector caught up', async () => {
      const stored = (await redis.hgetall(ks.roomMembers(room.body.id)))[bob.id];
      return stored === aloneLeft ? stored : undefined;
    });
    expect(await redis.hgetall(ks.profile(ann.id))).toEqual(written);
    expect(presentMembers(await redis.hgetall(ks.roomMembers(room.body.id)))).toEqual(new Map([[ann.id, 'OWNER']]));
  });

  test('when Redis is unreachable the write still succeeds at once, and the projector brings Redis up to date', async () => {
    await using ctx = await openTestContext('write_through_lost', { migrated: true });
    const ks = keyspace(ctx.redisPrefix);
    const redis = ctx.redis();
    await using _cdc = await startCdc(ctx);
    await using _projector = await startProjector(ctx);
    // nothing listens on port 1: every write-through fails, as if the process had died between commit and cache write
    await using server = await startWriteApi(ctx, { BGC_REDIS_URL: 'redis://127.0.0.1:1' });
    const api = client(server.url);
    const ann = await signUp(api, 'Ann');
    const started = Date.now();
    expect((await api.patch('/v1/me/profile', { bio: 'still saved' }, { token: ann.token })).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await writeThroughCount(server.url, 'failed')).toBeGreaterThanOrEqual(2);
    const doc = await eventually('the projector’s document', async () => {
      const d = await redis.hgetall(ks.profile(ann.id));
      return d.pv === '2'.padStart(20, '0') ? d : undefined;
    });
    expect(JSON.parse(doc.p ?? '{}')).toMatchObject({ bio: 'still saved' });
  });
});
