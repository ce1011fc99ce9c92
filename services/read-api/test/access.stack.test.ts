import { describe, expect, test } from 'vitest';
import type { TestContext } from '@bgc/testkit/context';
import { openTestContext } from '@bgc/testkit/context';
import { caughtUp, replayedOn } from '@bgc/testkit/replica';
import { client, signUp } from '../../write-api/test/client.ts';
import { startWriteApi } from '../../write-api/test/server.ts';
import { allRoutes } from '../src/app.ts';
import { startReadApi } from './processes.ts';

/** Until the replica has replayed a write's Commit-LSN. */
async function replayed(ctx: TestContext, lsn: string | null) {
  await replayedOn(await ctx.pg('replica'), lsn);
}

describe('read-api: who may read what, and bad input', () => {
  test('only members read a room, only participants a conversation; a blocker is invisible to the blocked', async () => {
    await using ctx = await openTestContext('rapi-access', { migrated: true });
    await using writeApi = await startWriteApi(ctx);
    await using reader = await startReadApi(ctx);
    const api = client(writeApi.url);
    const read = client(reader.url);
    const [ann, bob, cat] = [await signUp(api, 'Ann'), await signUp(api, 'Bob'), await signUp(api, 'Cat')];

    const room = await api.post<{ id: string }>('/v1/rooms', { name: 'lobby' }, { token: ann.token });
    const convo = await api.post<{ id: string }>(
      '/v1/conversations',
      { participantIds: [bob.id] },
      { token: ann.token },
    );
    const block = await api.post('/v1/blocks', { userId: cat.id }, { token: ann.token });
    expect(block.status).toBe(201);
    await replayed(ctx, block.headers.get('commit-lsn'));

    const roomPath = `/v1/rooms/${room.body.id}/messages`;
    const convoPath = `/v1/conversations/${convo.body.id}/messages`;
    expect((await read.get(roomPath, { token: ann.token })).status).toBe(200);
    expect(await read.get(roomPath, { token: bob.token })).toMatchObject({
      status: 403,
      body: { error: { code: 'NOT_A_MEMBER' } },
    });
    expect((await read.get(convoPath, { token: bob.token })).status).toBe(200);
    expect(await read.get(convoPath, { token: cat.token })).toMatchObject({
      status: 403,
      body: { error: { code: 'NOT_A_PARTICIPANT' } },
    });
    expect(await read.get(`/v1/rooms/${crypto.randomUUID()}/messages`, { token: ann.token })).toMatchObject({
      status: 404,
      body: { error: { field: 'roomId' } },
    });
    // Bob joins: he may read at once (the database confirms what the projection does not know yet)
    const joined = await api.post(`/v1/rooms/${room.body.id}/join`, {}, { token: bob.token });
    expect(
      (
        await read.get(roomPath, {
          token: bob.token,
          headers: { 'commit-lsn': joined.headers.get('commit-lsn') ?? '' },
        })
      ).status,
    ).toBe(200);

    // Ann blocks Cat: to Cat, Ann and her lists do not exist; to Bob she does
    const hidden = { status: 404, body: { error: { code: 'NOT_FOUND', field: 'userId' } } };
    expect(await read.get(`/v1/users/${ann.id}`, { token: cat.token })).toMatchObject(hidden);
    expect(await read.get(`/v1/users/${ann.id}/followers`, { token: cat.token })).toMatchObject(hidden);
    expect((await read.get(`/v1/users/${ann.id}`, { token: bob.token })).status).toBe(200);
    // the blocked may still be seen by the blocker
    expect((await read.get(`/v1/users/${cat.id}`, { token: ann.token })).status).toBe(200);
    expect(await read.get(`/v1/users/${crypto.randomUUID()}`, { token: ann.token })).toMatchObject(hidden);
  });

  test('bad input gets a 4xx with a code and the field; the OpenAPI document lists exactly the served routes', async () => {
    await using ctx = await openTestContext('rapi-bad-input', { migrated: true });
    await using writeApi = await startWriteApi(ctx);
    await using reader = await startReadApi(ctx);
    const api = client(writeApi.url);
    const read = client(reader.url);
    const ann = await signUp(api, 'Ann');
    const token = ann.token;
    const cases: [string, Record<string, string>, number, string, string?][] = [
      ['/v1/users/not-a-uuid', {}, 400, 'VALIDATION_FAILED', 'userId'],
      [`/v1/users/${ann.id}?color=red`, {}, 400, 'UNKNOWN_FIELD', 'color'],
      [`/v1/users/${ann.id}/friends?limit=0`, {}, 400, 'VALIDATION_FAILED', 'limit'],
      [`/v1/users/${ann.id}/friends?limit=abc`, {}, 400, 'VALIDATION_FAILED', 'limit'],
      [`/v1/users/${ann.id}/friends?limit=1&limit=2`, {}, 400, 'VALIDATION_FAILED', 'limit'],
      [`/v1/users/${ann.id}/followers?cursor=nope`, {}, 400, 'CURSOR_INVALID', 'cursor'],
      [`/v1/users/${ann.id}`, { 'commit-lsn': 'yesterday' }, 400, 'INVALID_COMMIT_LSN', 'Commit-LSN'],
      ['/v1/search/users', {}, 400, 'SEARCH_MODE', 'interest'],
      ['/v1/search/users?interest=chess&namePrefix=a', {}, 400, 'SEARCH_MODE', 'namePrefix'],
      ['/v1/search/users?city=Austin', {}, 400, 'SEARCH_MODE'],
      ['/v1/search/users?state=TX&sort=name', {}, 400, 'UNKNOWN_FIELD', 'sort'],
      ['/v1/search/users?namePrefix=', {}, 400, 'VALIDATION_FAILED', 'namePrefix'],
      ['/v1/presence?userIds=a,b', {}, 400, 'VALIDATION_FAILED', 'userIds'],
      ['/v1/presence', {}, 400, 'VALIDATION_FAILED', 'userIds'],
      ['/v1/nothing-here', {}, 404, 'NO_SUCH_ROUTE'],
    ];
    for (const [path, headers, status, code, field] of cases) {
      const r = await read.get(path, { token, headers });
      expect(r.status, path).toBe(status);
      expect(r.body, path).toMatchObject({ error: { code, ...(field ? { field } : {}) } });
    }
    expect(await read.get(`/v1/users/${ann.id}`)).toMatchObject({
      status: 401,
      body: { error: { code: 'UNAUTHENTICATED', field: 'Authorization' } },
    });
    expect(await read.get(`/v1/users/${ann.id}`, { token: 'x'.repeat(43) })).toMatchObject({
      status: 401,
      body: { error: { code: 'TOKEN_INVALID' } },
    });
    // a deactivated user's token is refused, on the replica and on the primary the read API asks after it
    const bob = await signUp(api, 'Bob');
    const migrator = await ctx.connectAs('migrator');
    await migrator.query('UPDATE users SET is_active = false WHERE id = $1', [bob.id]);
    await caughtUp(migrator, await ctx.pg('replica'));
    expect(await read.get(`/v1/users/${ann.id}`, { token: bob.token })).toMatchObject({
      status: 401,
      body: { error: { code: 'TOKEN_INVALID' } },
    });
    const text = await (await fetch(`${reader.url}/metrics`)).text();
    expect(text).toMatch(/^http_errors_total\{code="VALIDATION_FAILED",status="400"[^}]*\} [1-9]/m);

    // the document: exactly the served routes, each answering (never the 404 of an unknown route)
    const doc = (await (await fetch(`${reader.url}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { parameters?: { in: string; name: string }[]; security?: unknown }>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
    const served = allRoutes.map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    expect(documented.sort()).toEqual(served.sort());
    for (const r of allRoutes) {
      const op = doc.paths[r.path.replace(/:(\w+)/g, '{$1}')]?.[r.method];
      expect(op?.security, `${r.method} ${r.path}`).toBeDefined();
      const documentedQuery = (op?.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
      const declared = r.query ? Object.keys((r.query as unknown as { shape: object }).shape) : [];
      expect(documentedQuery.sort(), `${r.method} ${r.path} query`).toEqual(declared.sort());
      const path = r.path.replace(/:(\w+)/g, '00000000-0000-0000-0000-000000000000');
      const res = await fetch(`${reader.url}${path}`, {
        method: r.method.toUpperCase(),
        headers: { authorization: `Bearer ${token}` },
      });
      const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
      expect(body.error?.code, `${r.method} ${r.path}`).not.toBe('NO_SUCH_ROUTE');
    }
  });
});
