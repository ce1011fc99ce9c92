import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import { client, signUp } from '../../write-api/test/client.ts';
import { startWriteApi } from '../../write-api/test/server.ts';
import { put, startReadApi } from './processes.ts';

interface Online {
  online: { userId: string; lastSeenAt: string }[];
}

describe('read-api: presence', () => {
  test('a heartbeat puts a user online in the store Redis; without another one the user goes offline after the TTL', async () => {
    await using ctx = await openTestContext('rapi-presence', { migrated: true });
    await using writeApi = await startWriteApi(ctx);
    await using reader = await startReadApi(ctx, { BGC_READ_API_PRESENCE_TTL_MS: '1500' });
    const api = client(writeApi.url);
    const read = client(reader.url);
    const [ann, bob, cat] = [await signUp(api, 'Ann'), await signUp(api, 'Bob'), await signUp(api, 'Cat')];
    const who = `/v1/presence?userIds=${ann.id},${bob.id},${cat.id.toUpperCase()}`;

    expect((await read.get<Online>(who, { token: ann.token })).body.online).toEqual([]);
    expect(await put(reader.url, '/v1/presence', ann.token)).toBe(204);
    expect(await put(reader.url, '/v1/presence', cat.token)).toBe(204);
    const seen = await read.get<Online>(who, { token: bob.token });
    expect(seen.body.online.map((o) => o.userId)).toEqual([ann.id, cat.id]);
    expect(Date.now() - Date.parse(seen.body.online[0]?.lastSeenAt ?? '')).toBeLessThan(5000);
    // it is in the store Redis, with the TTL
    const store = ctx.redisStore();
    const keys = await store.keys(`${ctx.redisPrefix}presence:*`);
    expect(keys).toHaveLength(2);
    expect(await store.pttl(keys[0] ?? '')).toBeGreaterThan(0);

    // Cat keeps beating, Ann stops: after the TTL only Cat is online
    const started = Date.now();
    const beat = setInterval(() => void put(reader.url, '/v1/presence', cat.token), 400);
    try {
      const after = await eventually('Ann to go offline', async () => {
        const r = await read.get<Online>(who, { token: bob.token });
        return r.body.online.length === 1 ? r.body.online : undefined;
      });
      expect(after.map((o) => o.userId)).toEqual([cat.id]);
      expect(Date.now() - started).toBeGreaterThan(1000);
    } finally {
      clearInterval(beat);
    }
  });
});
