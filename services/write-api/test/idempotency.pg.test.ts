import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { client, signUp } from './client.ts';
import { startWriteApi } from './server.ts';

describe('write-api: Idempotency-Key', () => {
  test('a retried POST returns the first answer and writes nothing twice, also when the retries race', async () => {
    await using ctx = await openTestContext('wapi-idempotency', { migrated: true });
    await using server = await startWriteApi(ctx);
    const api = client(server.url);
    const ann = await signUp(api, 'Ann');
    const room = await api.post<{ id: string }>('/v1/rooms', { name: 'lobby' }, { token: ann.token });
    const path = `/v1/rooms/${room.body.id}/messages`;

    const first = await api.post<{ id: string }>(
      path,
      { content: 'once' },
      { token: ann.token, idempotencyKey: 'k-1' },
    );
    const again = await api.post<{ id: string }>(
      path,
      { content: 'once' },
      { token: ann.token, idempotencyKey: 'k-1' },
    );
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');

    // twenty retries at once: one executes, the others wait on the key and replay its answer
    const racing = await Promise.all(
      Array.from({ length: 20 }, () =>
        api.post<{ id: string }>(path, { content: 'race' }, { token: ann.token, idempotencyKey: 'k-2' }),
      ),
    );
    expect(new Set(racing.map((r) => r.status))).toEqual(new Set([201]));
    expect(new Set(racing.map((r) => r.body.id)).size).toBe(1);

    const reused = await api.post(path, { content: 'different' }, { token: ann.token, idempotencyKey: 'k-1' });
    expect(reused).toMatchObject({
      status: 422,
      body: { error: { code: 'IDEMPOTENCY_KEY_REUSED', field: 'Idempotency-Key' } },
    });

    const db = await ctx.connectAs('migrator');
    const counts = await db.query<{ content: string; n: number }>(
      `SELECT content, count(*)::int AS n FROM messages GROUP BY content ORDER BY content`,
    );
    expect(counts.rows).toEqual([
      { content: 'once', n: 1 },
      { content: 'race', n: 1 },
    ]);

    // a request that failed stores nothing under its key: fixing and retrying it with the same key works
    const bad = await api.post(
      `/v1/rooms/${crypto.randomUUID()}/messages`,
      { content: 'x' },
      { token: ann.token, idempotencyKey: 'k-3' },
    );
    expect(bad.status).toBe(404);
    const keys = await db.query(`SELECT key FROM idempotency_keys WHERE key = 'k-3'`);
    expect(keys.rowCount).toBe(0);
  });
});
