import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { client, signUp } from './client.ts';
import { startWriteApi } from './server.ts';

describe('write-api: accounts and bad input', () => {
  test('sign-up, sign-in, sign-out; the same email in another case is taken; wrong passwords are refused', async () => {
    await using ctx = await openTestContext('wapi-accounts', { migrated: true });
    await using server = await startWriteApi(ctx);
    const api = client(server.url);

    const ann = await signUp(api, 'Ann');
    const dup = await api.post('/v1/auth/signup', {
      email: ann.email.toUpperCase(),
      password: 'another long password',
      name: 'Imposter',
    });
    expect(dup.status).toBe(409);
    expect(dup.body).toMatchObject({ error: { code: 'EMAIL_TAKEN', field: 'email' } });

    const bad = await api.post('/v1/auth/login', { email: ann.email, password: 'wrong password' });
    expect(bad).toMatchObject({ status: 401, body: { error: { code: 'BAD_CREDENTIALS' } } });
    const nobody = await api.post('/v1/auth/login', { email: 'nobody@example.com', password: 'wrong password' });
    expect(nobody.body).toEqual(bad.body); // no hint whether the account exists

    const login = await api.post<{ token: string }>('/v1/auth/login', {
      email: ann.email.toUpperCase(),
      password: 'correct horse battery staple',
    });
    expect(login.status).toBe(200);
    const me = await api.patch('/v1/me', { name: 'Ann B' }, { token: login.body.token });
    // version 1 at sign-up, 2 when the sign-in recorded last_active_at, 3 now
    expect(me).toMatchObject({ status: 200, body: { name: 'Ann B', version: 3 } });
    expect((await api.post('/v1/auth/logout', undefined, { token: login.body.token })).status).toBe(204);
    const after = await api.patch('/v1/me', { name: 'Ann C' }, { token: login.body.token });
    expect(after).toMatchObject({ status: 401, body: { error: { code: 'TOKEN_INVALID', field: 'Authorization' } } });

    const db = await ctx.connectAs('migrator');
    const stored = await db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [ann.id]);
    expect(stored.rows[0]?.password_hash).toMatch(/^\$argon2id\$/);

    // an operator deactivates Bob: the token he holds stops working (not only his next sign-in)
    const bob = await signUp(api, 'Bob');
    await db.query('UPDATE users SET is_active = false WHERE id = $1', [bob.id]);
    const deactivated = await api.patch('/v1/me', { name: 'Bob B' }, { token: bob.token });
    expect(deactivated).toMatchObject({ status: 401, body: { error: { code: 'TOKEN_INVALID' } } });
    const bobLogin = await api.post('/v1/auth/login', { email: bob.email, password: 'correct horse battery staple' });
    expect(bobLogin.status).toBe(401);
    // no log line carries a password or a token
    expect(server.logs.join('\n')).not.toMatch(/correct horse|Bearer [A-Za-z0-9_-]{43}/);
  });

  test('bad input gets a 4xx with a code and the field, and writes nothing', async () => {
    await using ctx = await openTestContext('wapi-bad-input', { migrated: true });
    await using server = await startWriteApi(ctx, { BGC_WRITE_API_BODY_LIMIT_BYTES: '2048' });
    const api = client(server.url);
    const ann = await signUp(api, 'Ann');
    const room = await api.post<{ id: string }>('/v1/rooms', { name: 'lobby' }, { token: ann.token });
    const path = `/v1/rooms/${room.body.id}/messages`;
    const cases = [
      { body: { content: 'hi', color: 'red' }, status: 400, code: 'UNKNOWN_FIELD', field: 'color' },
      { body: { content: '' }, status: 400, code: 'VALIDATION_FAILED', field: 'content' },
      { body: { content: 42 }, status: 400, code: 'VALIDATION_FAILED', field: 'content' },
      { body: { content: 'x'.repeat(10_001) }, status: 413, code: 'PAYLOAD_TOO_LARGE' },
      { body: { content: 'x'.repeat(1_500), type: 'VIDEO' }, status: 400, code: 'VALIDATION_FAILED', field: 'type' },
    ];
    for (const c of cases) {
      const r = await api.post(path, c.body, { token: ann.token });
      expect(r.status, JSON.stringify(c.body).slice(0, 60)).toBe(c.status);
      expect(r.body).toMatchObject({ error: { code: c.code, ...(c.field ? { field: c.field } : {}) } });
    }
    const invalidJson = await api.post(path, undefined, { token: ann.token, rawBody: '{"content": "hi",' });
    expect(invalidJson).toMatchObject({ status: 400, body: { error: { code: 'INVALID_JSON' } } });
    const form = await api.post(path, undefined, {
      token: ann.token,
      rawBody: 'content=hi',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form).toMatchObject({
      status: 415,
      body: { error: { code: 'UNSUPPORTED_MEDIA_TYPE', field: 'Content-Type' } },
    });
    // the media type is matched as type-is would: case-insensitive, parameters allowed, nothing else
    for (const [contentType, status] of [
      ['application/json; charset=utf-8', 201],
      ['Application/JSON', 201],
      ['application/json ;charset=utf-8', 201],
      ['application/jsonp', 415],
      ['application/json-seq', 415],
      ['text/plain', 415],
    ] as const) {
      const r = await api.post(path, undefined, {
        token: ann.token,
        rawBody: JSON.stringify({ content: `typed ${contentType}` }),
        headers: { 'content-type': contentType },
      });
      expect(r.status, contentType).toBe(status);
    }
    const badId = await api.post('/v1/rooms/not-a-uuid/messages', { content: 'hi' }, { token: ann.token });
    expect(badId).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED', field: 'roomId' } } });
    const noToken = await api.post(path, { content: 'hi' });
    expect(noToken).toMatchObject({
      status: 401,
      body: { error: { code: 'UNAUTHENTICATED', field: 'Authorization' } },
    });
    const badEmail = await api.post('/v1/auth/signup', { email: 'nope', password: 'long enough pw', name: 'X' });
    expect(badEmail).toMatchObject({ status: 400, body: { error: { field: 'email' } } });

    const db = await ctx.connectAs('migrator');
    // only the three sends with a JSON media type were written
    const messages = await db.query<{ content: string }>('SELECT content FROM messages ORDER BY content');
    expect(messages.rows.map((r) => r.content)).toEqual([
      'typed Application/JSON',
      'typed application/json ;charset=utf-8',
      'typed application/json; charset=utf-8',
    ]);
    const users = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
    expect(users.rows[0]?.n).toBe(1);
  });
});
