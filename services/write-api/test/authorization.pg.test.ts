import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { client, signUp } from './client.ts';
import { startWriteApi } from './server.ts';

describe('write-api: who may do what', () => {
  test('friends: request, accept, unfriend, decline; follows; blocks stop messages, requests and follows', async () => {
    await using ctx = await openTestContext('wapi-social', { migrated: true });
    await using server = await startWriteApi(ctx);
    const api = client(server.url);
    const [ann, bob, cat] = [await signUp(api, 'Ann'), await signUp(api, 'Bob'), await signUp(api, 'Cat')];

    const req = await api.post('/v1/friends/requests', { userId: bob.id }, { token: ann.token });
    expect(req).toMatchObject({ status: 201, body: { status: 'PENDING', fromUserId: ann.id, toUserId: bob.id } });
    expect((await api.post('/v1/friends/requests', { userId: bob.id }, { token: ann.token })).body).toMatchObject({
      error: { code: 'ALREADY_REQUESTED' },
    });
    const accepted = await api.post(`/v1/friends/requests/${ann.id}/accept`, undefined, { token: bob.token });
    expect(accepted).toMatchObject({ status: 200, body: { status: 'ACCEPTED', version: 2 } });
    expect((await api.del(`/v1/friends/${ann.id}`, { token: bob.token })).status).toBe(204);
    expect((await api.del(`/v1/friends/${ann.id}`, { token: bob.token })).status).toBe(404);

    await api.post('/v1/friends/requests', { userId: cat.id }, { token: ann.token });
    const declined = await api.post(`/v1/friends/requests/${ann.id}/decline`, undefined, { token: cat.token });
    expect(declined.body).toMatchObject({ status: 'DECLINED' });
    expect((await api.post(`/v1/friends/requests/${bob.id}/accept`, undefined, { token: cat.token })).status).toBe(404);
    expect((await api.post('/v1/friends/requests', { userId: ann.id }, { token: ann.token })).body).toMatchObject({
      error: { code: 'SELF_RELATIONSHIP', field: 'userId' },
    });

    expect((await api.post('/v1/follows', { userId: bob.id }, { token: cat.token })).status).toBe(201);
    const convo = await api.post<{ id: string }>(
      '/v1/conversations',
      { participantIds: [bob.id] },
      { token: cat.token },
    );
    expect(convo.status).toBe(201);

    // Bob blocks Cat: the follow is gone, and Cat can neither message, befriend nor follow Bob
    expect((await api.post('/v1/blocks', { userId: cat.id }, { token: bob.token })).status).toBe(201);
    const blocked = { status: 403, body: { error: { code: 'BLOCKED' } } };
    expect(
      await api.post(`/v1/conversations/${convo.body.id}/messages`, { content: 'hi' }, { token: cat.token }),
    ).toMatchObject(blocked);
    expect(await api.post('/v1/friends/requests', { userId: bob.id }, { token: cat.token })).toMatchObject(blocked);
    expect(await api.post('/v1/follows', { userId: bob.id }, { token: cat.token })).toMatchObject(blocked);
    expect(await api.post('/v1/conversations', { participantIds: [bob.id] }, { token: cat.token })).toMatchObject(
      blocked,
    );
    const db = await ctx.connectAs('migrator');
    const follows = await db.query(`SELECT 1 FROM relationships WHERE type = 'FOLLOW'`);
    expect(follows.rowCount).toBe(0);

    expect((await api.del(`/v1/blocks/${cat.id}`, { token: bob.token })).status).toBe(204);
    expect((await api.post('/v1/follows', { userId: bob.id }, { token: cat.token })).status).toBe(201);
  });

  test('only members post in a room, only participants in a conversation, only authors edit', async () => {
    await using ctx = await openTestContext('wapi-membership', { migrated: true });
    await using server = await startWriteApi(ctx);
    const api = client(server.url);
    const [ann, bob, cat] = [await signUp(api, 'Ann'), await signUp(api, 'Bob'), await signUp(api, 'Cat')];

    const room = await api.post<{ id: string }>('/v1/rooms', { name: 'lobby' }, { token: ann.token });
    const post = (token: string) =>
      api.post<{ id: string }>(`/v1/rooms/${room.body.id}/messages`, { content: 'hi' }, { token });
    expect(await post(bob.token)).toMatchObject({ status: 403, body: { error: { code: 'NOT_A_MEMBER' } } });
    expect((await api.post(`/v1/rooms/${room.body.id}/join`, undefined, { token: bob.token })).status).toBe(200);
    const sent = await post(bob.token);
    expect(sent.status).toBe(201);
    expect((await api.post(`/v1/rooms/${room.body.id}/leave`, undefined, { token: bob.token })).status).toBe(204);
    expect((await post(bob.token)).status).toBe(403);

    const secret = await api.post<{ id: string }>(
      '/v1/rooms',
      { name: 'vault', isPrivate: true },
      { token: ann.token },
    );
    expect(await api.post(`/v1/rooms/${secret.body.id}/join`, undefined, { token: cat.token })).toMatchObject({
      status: 403,
      body: { error: { code: 'PRIVATE_ROOM' } },
    });

    const convo = await api.post<{ id: string }>(
      '/v1/conversations',
      { participantIds: [bob.id] },
      { token: ann.token },
    );
    const dm = (token: string) =>
      api.post(`/v1/conversations/${convo.body.id}/messages`, { content: 'psst' }, { token });
    expect((await dm(bob.token)).status).toBe(201);
    expect(await dm(cat.token)).toMatchObject({ status: 403, body: { error: { code: 'NOT_A_PARTICIPANT' } } });

    const edit = await api.patch(`/v1/messages/${sent.body.id}`, { content: 'edited' }, { token: ann.token });
    expect(edit).toMatchObject({ status: 403, body: { error: { code: 'NOT_YOURS' } } });
    expect(await api.patch(`/v1/messages/${sent.body.id}`, { content: 'edited' }, { token: bob.token })).toMatchObject({
      status: 200,
      body: { content: 'edited', version: 2 },
    });
    expect((await api.del(`/v1/messages/${sent.body.id}`, { token: bob.token })).status).toBe(204);

    const status = await api.post<{ id: string }>(
      '/v1/status',
      { content: 'hello', visibility: 'FRIENDS' },
      { token: ann.token },
    );
    expect(status.body).toMatchObject({ visibility: 'FRIENDS' });
    expect((await api.patch(`/v1/status/${status.body.id}`, { content: 'x' }, { token: bob.token })).status).toBe(403);
    expect(
      (await api.patch(`/v1/status/${status.body.id}`, { content: 'hi all' }, { token: ann.token })).body,
    ).toMatchObject({ content: 'hi all', version: 2 });
    expect((await api.del(`/v1/status/${status.body.id}`, { token: ann.token })).status).toBe(204);

    // forum: categories are for administrators; threads and replies for anyone
    const cat1 = await api.post('/v1/forum/categories', { slug: 'chess', name: 'Chess' }, { token: ann.token });
    expect(cat1).toMatchObject({ status: 403, body: { error: { code: 'NOT_AN_ADMIN' } } });
    const db = await ctx.connectAs('migrator');
    await db.query(`UPDATE profiles SET roles = '["admin"]' WHERE user_id = $1`, [ann.id]);
    const chess = await api.post<{ id: string }>(
      '/v1/forum/categories',
      { slug: 'chess', name: 'Chess' },
      { token: ann.token },
    );
    expect(chess.status).toBe(201);
    expect(
      (await api.post('/v1/forum/categories', { slug: 'chess', name: 'Again' }, { token: ann.token })).body,
    ).toMatchObject({
      error: { code: 'SLUG_TAKEN', field: 'slug' },
    });
    const thread = await api.post<{ thread: { id: string } }>(
      `/v1/forum/categories/${chess.body.id}/threads`,
      { title: 'Openings', content: 'e4?' },
      { token: bob.token },
    );
    expect(thread.status).toBe(201);
    const reply = await api.post(
      `/v1/forum/threads/${thread.body.thread.id}/posts`,
      { content: 'd4!' },
      { token: cat.token },
    );
    expect(reply.status).toBe(201);
    const counted = await db.query<{ post_count: number }>('SELECT post_count FROM forum_threads WHERE id = $1', [
      thread.body.thread.id,
    ]);
    expect(counted.rows[0]?.post_count).toBe(2);
    const missing = await api.post(
      `/v1/forum/threads/${crypto.randomUUID()}/posts`,
      { content: 'x' },
      { token: cat.token },
    );
    expect(missing).toMatchObject({ status: 404, body: { error: { field: 'threadId' } } });
  });
});
