import { describe, expect, test } from 'vitest';
import { keyspace } from '@bgc/cache/keys';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import { caughtUp } from '@bgc/testkit/replica';
import { startCdc } from '../../cdc/test/cdc-process.ts';
import { metric, startReadApi } from '../../read-api/test/processes.ts';
import { client, signUp } from '../../write-api/test/client.ts';
import { startWriteApi } from '../../write-api/test/server.ts';
import { startFeedBuilder } from './feed-builder-process.ts';

interface FeedPage {
  items: { id: string; createdAt: string; author: { id: string; name: string | null }; content: string }[];
  hasNext: boolean;
  next: string | null;
  partial: boolean;
  source: 'redis' | 'database';
}

describe('read-api GET /v1/feed through the whole pipeline (write-api → cdc → kafka → feed-builder → redis)', () => {
  test('partial from the database while building, then from Redis; pages; a pulled author merged at read time', async () => {
    await using ctx = await openTestContext('feed-read', { migrated: true });
    await using cdc = await startCdc(ctx);
    await using writeApi = await startWriteApi(ctx);
    // one follower at most is fanned out to: Ann, with two, is pulled once she posts again
    await using builder = await startFeedBuilder(ctx, { BGC_FEED_PULL_THRESHOLD: '1' });
    // a short L1: a document gone from Redis is soon read again
    await using reader = await startReadApi(ctx, { BGC_READ_API_L1_TTL_MS: '500' });
    void [cdc, builder];
    const api = client(writeApi.url);
    const read = client(reader.url);
    const [ann, bob, cat, dan] = await Promise.all(['Ann', 'Bob', 'Cat', 'Dan'].map((n) => signUp(api, n)));
    if (!ann || !bob || !cat || !dan) throw new Error('sign-up failed');
    expect((await api.post('/v1/follows', { userId: ann.id }, { token: bob.token })).status).toBe(201);
    expect((await api.post('/v1/follows', { userId: dan.id }, { token: bob.token })).status).toBe(201);
    const posted: string[] = [];
    let lsn = '';
    for (const [who, content, visibility] of [
      [ann, 'one', 'PUBLIC'],
      [dan, 'two', 'PUBLIC'],
      [ann, 'secret', 'FRIENDS'],
      [ann, 'three', 'PUBLIC'],
    ] as const) {
      const r = await api.post<{ id: string }>('/v1/status', { content, visibility }, { token: who.token });
      if (visibility === 'PUBLIC') posted.unshift(r.body.id);
      lsn = r.headers.get('commit-lsn') ?? lsn;
    }
    // the database's answer (a request that must see its own write reads it)
    const fromDb = async () =>
      (await read.get<FeedPage>('/v1/feed', { token: bob.token, headers: { 'commit-lsn': lsn } })).body;
    expect((await fromDb()).items.map((i) => i.id)).toEqual(posted);

    // Bob never read his feed: the first read asks for it and answers from the database, marked partial
    const first = await read.get<FeedPage>('/v1/feed', { token: bob.token });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ partial: true, source: 'database' });
    expect(first.body.items.map((i) => i.id)).toEqual(posted);
    const built = await eventually('Bob’s feed from Redis', async () => {
      const r = await read.get<FeedPage>('/v1/feed', { token: bob.token });
      return r.body.source === 'redis' ? r : undefined;
    });
    expect(built.headers.get('cache')).toBe('hit');
    expect(built.body.partial).toBe(false);
    expect(built.body.items.map((i) => i.id)).toEqual(posted);
    expect(built.body.items[0]).toMatchObject({ content: 'three', author: { id: ann.id, name: 'Ann' } });
    expect(built.body.items).toEqual((await fromDb()).items);

    // pages of one: the same items, and the cursors the database would give
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: FeedPage = (
        await read.get<FeedPage>(`/v1/feed?limit=1${cursor ? `&cursor=${cursor}` : ''}`, { token: bob.token })
      ).body;
      expect(page.source).toBe('redis');
      seen.push(...page.items.map((i) => i.id));
      cursor = page.next;
    } while (cursor);
    expect(seen).toEqual(posted);
    expect((await read.get('/v1/feed?cursor=bad', { token: bob.token })).status).toBe(400);

    // three posts of the same microsecond (written straight to the database, as a bulk import would): the feed
    // orders them by id as the query does, and pages of one walk them without skipping or repeating any
    const primary = await ctx.pg('primary');
    const { rows: tied } = await primary.query<{ id: string }>(
      `INSERT INTO status_updates (author_id, content, created_at)
       SELECT $1, 'tie ' || i, '2026-11-28 00:00:00.123456+00' FROM generate_series(1, 3) i RETURNING id`,
      [dan.id],
    );
    const { rows: lsnRow } = await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    lsn = lsnRow[0]?.lsn ?? lsn;
    await eventually('the tied posts in Bob’s feed', async () => {
      const r = await read.get<FeedPage>('/v1/feed?limit=50', { token: bob.token });
      return tied.every((t) => r.body.items.some((i) => i.id === t.id)) ? true : undefined;
    });
    const walk = async (headers: Record<string, string>) => {
      const ids: string[] = [];
      let at: string | null = null;
      do {
        const page: FeedPage = (
          await read.get<FeedPage>(`/v1/feed?limit=1${at ? `&cursor=${at}` : ''}`, { token: bob.token, headers })
        ).body;
        expect(page.source).toBe(headers['commit-lsn'] ? 'database' : 'redis');
        ids.push(...page.items.map((i) => i.id));
        at = page.next;
      } while (at);
      return ids;
    };
    const byRedis = await walk({});
    expect(byRedis).toEqual(await walk({ 'commit-lsn': lsn }));
    const tiedIds = tied
      .map((t) => t.id)
      .sort()
      .reverse();
    expect(byRedis).toEqual([...posted, ...tiedIds]);

    // Cat follows Ann too: two followers, above the threshold; Ann's next post is pulled, not fanned out, and Bob's
    // feed still shows it (merged at read time), as does the database. Dan, below it, is still fanned out
    expect((await api.post('/v1/follows', { userId: ann.id }, { token: cat.token })).status).toBe(201);
    const loud = await api.post<{ id: string }>('/v1/status', { content: 'loud' }, { token: ann.token });
    const quiet = await api.post<{ id: string }>('/v1/status', { content: 'quiet' }, { token: dan.token });
    lsn = quiet.headers.get('commit-lsn') ?? lsn;
    const merged = await eventually('both new posts in Bob’s feed', async () => {
      const r = await read.get<FeedPage>('/v1/feed', { token: bob.token });
      const ids = r.body.items.map((i) => i.id);
      return r.body.source === 'redis' && ids.includes(loud.body.id) && ids.includes(quiet.body.id) ? r : undefined;
    });
    expect(merged.body.items.map((i) => i.id)).toEqual([quiet.body.id, loud.body.id, ...posted, ...tiedIds]);
    expect(merged.body.items).toEqual((await fromDb()).items);

    // an operator deactivates Dan: his profile is no longer shown, but his posts stay in Bob's feed under his name,
    // as in the database's page, also once his document is gone from Redis and filled again from the replica
    await primary.query('UPDATE users SET is_active = false WHERE id = $1', [dan.id]);
    lsn = await caughtUp(primary, await ctx.pg('replica'), 'Dan deactivated on the replica');
    const misses = () => metric(reader.url, 'cache_lookups_total', 'keyspace="profile",outcome="miss"');
    const missedBefore = (await misses()) || 0;
    await ctx.redis().del(keyspace(ctx.redisPrefix).profile(dan.id));
    // a page read once Dan's document was missed (the L1's copy expired, Redis's deleted): read from the replica
    const withDan = await eventually('Bob’s feed from Redis, Dan’s document filled again', async () => {
      const r = await read.get<FeedPage>('/v1/feed', { token: bob.token });
      return (await misses()) > missedBefore && r.body.source === 'redis' && r.body.items.length === 8 ? r : undefined;
    });
    expect(withDan.body.items).toEqual((await fromDb()).items);
    expect(withDan.body.items[0]).toMatchObject({ id: quiet.body.id, author: { id: dan.id, name: 'Dan' } });
    expect((await read.get(`/v1/users/${dan.id}`, { token: bob.token })).status).toBe(404);
    expect(
      (await read.get<{ paths: Record<string, unknown> }>('/openapi.json', {})).body.paths['/v1/feed'],
    ).toBeDefined();
  });
});
