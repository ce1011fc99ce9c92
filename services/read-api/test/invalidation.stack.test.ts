import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import { startFeedBuilder } from '../../feed-builder/test/feed-builder-process.ts';
import { client, signUp } from '../../write-api/test/client.ts';
import { metric, startPipeline, startReadApi } from './processes.ts';

interface Profile {
  bio: string | null;
  counts: { followers: number };
}

describe('read-api: the invalidation bus keeps every instance’s L1 and cache-aside entries current', () => {
  test('two instances: a profile edit and a follow through the write API reach both long before any TTL', async () => {
    await using ctx = await openTestContext('rapi-invalidation', { migrated: true });
    // write-through on (the default): the write API announces what it wrote, the projector's later no-op does not
    await using pipeline = await startPipeline(ctx);
    // TTLs far longer than the test: only an invalidation can make a change visible
    const env = { BGC_READ_API_L1_TTL_MS: '600000', BGC_READ_API_LIST_TTL_MS: '600000' };
    await using first = await startReadApi(ctx, env);
    await using second = await startReadApi(ctx, env);
    const api = client(pipeline.writeApi.url);
    const [ann, bob] = [await signUp(api, 'Ann'), await signUp(api, 'Bob')];
    const readers = [client(first.url), client(second.url)];

    for (const read of readers) {
      await eventually('Ann’s profile in L1', async () => {
        const r = await read.get<Profile>(`/v1/users/${ann.id}`, { token: bob.token });
        return r.headers.get('cache') === 'l1' ? r : undefined;
      });
      const followers = await read.get<{ items: unknown[] }>(`/v1/users/${ann.id}/followers`, { token: bob.token });
      expect(followers.body.items).toEqual([]);
    }

    expect((await api.patch('/v1/me/profile', { bio: 'new bio' }, { token: ann.token })).status).toBe(200);
    expect((await api.post('/v1/follows', { userId: ann.id }, { token: bob.token })).status).toBe(201);
    for (const read of readers) {
      let last: unknown;
      const seen = await eventually(
        'the edit and the follow on this instance',
        async () => {
          const r = await read.get<Profile>(`/v1/users/${ann.id}`, { token: bob.token });
          const f = await read.get<{ items: { id: string }[] }>(`/v1/users/${ann.id}/followers`, { token: bob.token });
          last = { profile: r.body, cache: r.headers.get('cache'), followers: f.body.items };
          return r.body.bio === 'new bio' && r.body.counts.followers === 1 && f.body.items[0]?.id === bob.id
            ? r
            : undefined;
        },
        { timeoutMs: 15_000 },
      ).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}: last saw ${JSON.stringify(last)}`);
      });
      expect(seen.body.bio).toBe('new bio');
    }

    // the channel drops (the listeners' connections are killed): each instance clears its L1 rather than trust it
    for (const read of readers) {
      await eventually('back in L1', async () => {
        const r = await read.get(`/v1/users/${ann.id}`, { token: bob.token });
        return r.headers.get('cache') === 'l1' ? true : undefined;
      });
    }
    const redis = ctx.redis();
    const list = await redis.client('LIST');
    const listeners = String(list)
      .split('\n')
      .filter((l) => l.includes(`name=${ctx.redisPrefix}cache-invalidation-listener`));
    expect(listeners).toHaveLength(2);
    for (const l of listeners) await redis.client('KILL', 'ID', /id=(\d+)/.exec(l)?.[1] ?? '');
    for (const [i, read] of readers.entries()) {
      await eventually('the L1 cleared', () =>
        Promise.resolve([first, second][i]?.logs.some((l) => l.includes('L1 cleared')) ? true : undefined),
      );
      const r = await read.get(`/v1/users/${ann.id}`, { token: bob.token });
      expect(r.headers.get('cache')).toBe('hit');
    }
  });

  test('two instances: an edited status update reaches both feeds, whose L1 held its body, long before any TTL', async () => {
    await using ctx = await openTestContext('rapi-invalidation-bodies', { migrated: true });
    await using pipeline = await startPipeline(ctx);
    await using builder = await startFeedBuilder(ctx);
    void builder;
    const env = { BGC_READ_API_L1_TTL_MS: '600000' };
    await using first = await startReadApi(ctx, env);
    await using second = await startReadApi(ctx, env);
    const api = client(pipeline.writeApi.url);
    const [ann, bob] = [await signUp(api, 'Ann'), await signUp(api, 'Bob')];
    expect((await api.post('/v1/follows', { userId: ann.id }, { token: bob.token })).status).toBe(201);
    const post = await api.post<{ id: string }>(
      '/v1/status',
      { content: 'first words', visibility: 'PUBLIC' },
      {
        token: ann.token,
      },
    );
    expect(post.status).toBe(201);
    const contents = async (url: string) => {
      const r = await client(url).get<{ items: { id: string; content: string }[]; source: string }>('/v1/feed', {
        token: bob.token,
      });
      return r.body.source === 'redis' ? r.body.items.map((i) => i.content) : undefined;
    };
    // both feeds from Redis with the body, then the body from each instance's L1
    for (const reader of [first, second]) {
      await eventually('Bob’s feed from Redis with Ann’s post', async () =>
        (await contents(reader.url))?.[0] === 'first words' ? true : undefined,
      );
      const l1Hits = () => metric(reader.url, 'cache_lookups_total', 'keyspace="status",outcome="l1_hit"');
      const before = (await l1Hits()) || 0;
      expect(await contents(reader.url)).toEqual(['first words']);
      expect(await l1Hits()).toBe(before + 1);
    }

    expect(
      (await api.patch(`/v1/status/${post.body.id}`, { content: 'second thoughts' }, { token: ann.token })).status,
    ).toBe(200);
    // the feed entry is unchanged (same id, same time): only the builder's invalidation can replace the L1's body
    for (const reader of [first, second]) {
      let last: unknown;
      await eventually(
        'the edit on this instance',
        async () => {
          last = await contents(reader.url);
          return Array.isArray(last) && last[0] === 'second thoughts' ? true : undefined;
        },
        { timeoutMs: 15_000 },
      ).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}: last saw ${JSON.stringify(last)}`);
      });
    }
  });
});
