import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { replayedOn } from '@bgc/testkit/replica';
import { client, signUp } from '../../write-api/test/client.ts';
import { startWriteApi } from '../../write-api/test/server.ts';
import { metric, startReadApi } from './processes.ts';

interface Page {
  items: { id: string }[];
}

describe('read-api: read-your-writes with Commit-LSN', () => {
  test('a request with the write’s Commit-LSN sees it (past the caches), from the replica once replayed, else from the primary after the wait', async () => {
    await using ctx = await openTestContext('rapi-ryw', { migrated: true });
    await using writeApi = await startWriteApi(ctx);
    await using reader = await startReadApi(ctx, { BGC_READ_API_LSN_WAIT_MS: '300' });
    const api = client(writeApi.url);
    const read = client(reader.url);
    const [ann, bob] = [await signUp(api, 'Ann'), await signUp(api, 'Bob')];

    // Ann's followers, read once: the (empty) first page is now a cache-aside entry
    const before = await read.get<Page>(`/v1/users/${ann.id}/followers`, { token: ann.token });
    expect(before.body.items).toEqual([]);
    expect(before.headers.get('cache')).toBe('miss');

    const follow = await api.post('/v1/follows', { userId: ann.id }, { token: bob.token });
    const lsn = follow.headers.get('commit-lsn') ?? '';
    expect(lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    // with the LSN: the follow is there at once, read past the cache from the database that has it
    const mine = await read.get<Page>(`/v1/users/${ann.id}/followers`, {
      token: ann.token,
      headers: { 'commit-lsn': lsn },
    });
    expect(mine.body.items.map((i) => i.id)).toEqual([bob.id]);
    expect(mine.headers.get('cache')).toBe('bypass');
    // once the replica has replayed it, such a request is the replica's (usually it is within the wait already)
    const replica = await ctx.pg('replica');
    await replayedOn(replica, lsn, 'the replica to replay the follow');
    const replayed = await read.get<Page>(`/v1/users/${ann.id}/followers`, {
      token: ann.token,
      headers: { 'commit-lsn': lsn },
    });
    expect(replayed.headers.get('read-from')).toBe('replica');
    expect(replayed.body.items.map((i) => i.id)).toEqual([bob.id]);
    // without it: the cached page (nothing has invalidated it: no projector runs here)
    const cached = await read.get<Page>(`/v1/users/${ann.id}/followers`, { token: ann.token });
    expect(cached.headers.get('cache')).toBe('hit');
    expect(cached.body.items).toEqual([]);

    // a position the replica has not replayed (ahead of the primary's too): served by the primary after the wait
    const primary = await ctx.pg('primary');
    const { rows } = await primary.query<{ ahead: string }>(
      `SELECT (pg_current_wal_lsn() + 1073741824)::text AS ahead`,
    );
    const started = Date.now();
    const late = await read.get<Page>(`/v1/users/${ann.id}/followers`, {
      token: ann.token,
      headers: { 'commit-lsn': rows[0]?.ahead ?? '' },
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(late.headers.get('read-from')).toBe('primary');
    expect(late.body.items.map((i) => i.id)).toEqual([bob.id]);
    expect(await metric(reader.url, 'read_api_db_reads_total', 'target="primary",reason="lsn_not_replayed"')).toBe(1);
    expect(
      await metric(reader.url, 'read_api_db_reads_total', 'target="replica",reason="lsn_replayed"'),
    ).toBeGreaterThanOrEqual(1);
    expect(await metric(reader.url, 'read_api_replica_lag_bytes', '')).toBeGreaterThanOrEqual(0);
  });
});
