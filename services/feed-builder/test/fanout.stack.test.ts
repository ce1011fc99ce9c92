import crypto from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { feedKeyspace, STATUS_BODY, statusBodyKey } from '@bgc/cache/feed-keys';
import { presentMembers } from '@bgc/cache/scripts';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import { startCdc } from '../../cdc/test/cdc-process.ts';
import { client, signUp } from '../../write-api/test/client.ts';
import { startWriteApi } from '../../write-api/test/server.ts';
import { feedIds, requestRebuilds, startFeedBuilder } from './feed-builder-process.ts';

describe('feed-builder: writes through the write API reach the feeds in the store Redis', () => {
  test('fan-out by visibility, edits and deletes, follows and unfollows, blocks, and a pulled author', async () => {
    await using ctx = await openTestContext('feed-fanout', { migrated: true });
    await using cdc = await startCdc(ctx);
    await using writeApi = await startWriteApi(ctx);
    // a threshold of 2 followers: the third follower makes Ann a pulled author
    await using builder = await startFeedBuilder(ctx, { BGC_FEED_PULL_THRESHOLD: '2' });
    void cdc;
    const api = client(writeApi.url);
    const store = ctx.redisStore();
    const cache = ctx.redis();
    const keys = feedKeyspace(ctx.redisPrefix);
    const feed = (id: string) => feedIds(store, ctx.redisPrefix, id);

    const [ann, bob, cat, dan, eve] = await Promise.all(['Ann', 'Bob', 'Cat', 'Dan', 'Eve'].map((n) => signUp(api, n)));
    if (!ann || !bob || !cat || !dan || !eve) throw new Error('sign-up failed');
    expect((await api.post('/v1/follows', { userId: ann.id }, { token: bob.token })).status).toBe(201);
    expect((await api.post('/v1/friends/requests', { userId: ann.id }, { token: cat.token })).status).toBe(201);
    expect((await api.post(`/v1/friends/requests/${cat.id}/accept`, {}, { token: ann.token })).status).toBe(200);
    const early = await api.post<{ id: string }>('/v1/status', { content: 'before the feeds' }, { token: ann.token });

    // the feeds are built when their owners first read them: here, asked for directly, all three at once
    await requestRebuilds(
      store,
      ctx.redisPrefix,
      [ann, bob, cat].map((u) => u.id),
    );
    for (const u of [ann, bob, cat]) {
      await eventually(`${u.id}'s feed built`, async () => ((await feed(u.id)) ? true : undefined));
    }
    // the three requests waiting together were built together (one group of three)
    const groups = await (await fetch(`${builder.url}/metrics`)).text();
    expect(groups).toMatch(/^feed_rebuild_group_size_count(\{[^}]*\})? 1$/m);
    expect(groups).toMatch(/^feed_rebuild_group_size_sum(\{[^}]*\})? 3$/m);
    expect(await feed(bob.id)).toEqual([early.body.id]);
    // Dan never read his feed: it is not kept, and fan-out leaves no fragment of it
    expect(await feed(dan.id)).toBeUndefined();

    // this post's trace is followed below, from the HTTP request to the feed builder
    const traceId = crypto.randomBytes(16).toString('hex');
    const traceparent = `00-${traceId}-${crypto.randomBytes(8).toString('hex')}-01`;
    const pub = await api.post<{ id: string }>(
      '/v1/status',
      { content: 'hello all' },
      { token: ann.token, headers: { traceparent } },
    );
    const priv = await api.post<{ id: string }>(
      '/v1/status',
      { content: 'friends only', visibility: 'FRIENDS' },
      { token: ann.token },
    );
    await eventually('the posts in Cat’s and Ann’s feeds', async () =>
      (await feed(cat.id))?.length === 3 && (await feed(ann.id))?.length === 3 ? true : undefined,
    );
    expect(await feed(cat.id)).toEqual([priv.body.id, pub.body.id, early.body.id]);
    expect(await feed(ann.id)).toEqual([priv.body.id, pub.body.id, early.body.id]);
    expect(await feed(bob.id)).toEqual([pub.body.id, early.body.id]); // a follower: PUBLIC only
    // the body is in the cache, versioned
    const body = await cache.hget(statusBodyKey(ctx.redisPrefix, pub.body.id), STATUS_BODY.payloadField);
    expect(JSON.parse(body ?? '{}')).toMatchObject({ content: 'hello all', author_id: ann.id });

    // the post's trace has spans from the write API, the CDC service and the feed builder
    await eventually(
      'the post’s trace in Jaeger, through the feed builder',
      async () => {
        const res = await fetch(`${ctx.urls.jaegerUrl}/api/traces/${traceId}`);
        if (!res.ok) return undefined;
        const data = ((await res.json()) as { data: { processes: Record<string, { serviceName: string }> }[] }).data;
        const names = new Set(Object.values(data[0]?.processes ?? {}).map((p) => p.serviceName));
        return ['write-api', 'cdc', 'feed-builder'].every((n) => names.has(n)) ? true : undefined;
      },
      { timeoutMs: 30_000 },
    );

    // an edit that opens the post to everyone reaches the follower; a delete leaves every feed
    expect((await api.patch(`/v1/status/${priv.body.id}`, { visibility: 'PUBLIC' }, { token: ann.token })).status).toBe(
      200,
    );
    await eventually('the opened post in Bob’s feed', async () =>
      (await feed(bob.id))?.includes(priv.body.id) ? true : undefined,
    );
    expect((await api.del(`/v1/status/${pub.body.id}`, { token: ann.token })).status).toBe(204);
    await eventually('the deleted post gone', async () => {
      const all = await Promise.all([ann, bob, cat].map((u) => feed(u.id)));
      return all.every((f) => f && !f.includes(pub.body.id)) ? true : undefined;
    });
    expect(await cache.hget(statusBodyKey(ctx.redisPrefix, pub.body.id), 'deleted')).toBe('1');

    // unfollow removes Ann's posts from Bob's feed; following again brings them back
    expect((await api.del(`/v1/follows/${ann.id}`, { token: bob.token })).status).toBe(204);
    await eventually('Bob’s feed without Ann', async () => ((await feed(bob.id))?.length === 0 ? true : undefined));
    expect((await api.post('/v1/follows', { userId: ann.id }, { token: bob.token })).status).toBe(201);
    await eventually('Bob’s feed backfilled', async () =>
      (await feed(bob.id))?.join() === [priv.body.id, early.body.id].join() ? true : undefined,
    );
    // Bob's own post reaches his friend-less follower list (none) and his own feed
    const bobs = await api.post<{ id: string }>('/v1/status', { content: 'mine' }, { token: bob.token });
    await eventually('Bob’s own post in his feed', async () =>
      (await feed(bob.id))?.[0] === bobs.body.id ? true : undefined,
    );

    // a block ends the friendship (the write API deletes it) and hides Ann from Cat
    expect((await api.post('/v1/blocks', { userId: ann.id }, { token: cat.token })).status).toBe(201);
    await eventually('Cat’s feed without Ann', async () => ((await feed(cat.id))?.length === 0 ? true : undefined));

    // two more followers: Ann has 3 > 2, so her next post is pulled, not fanned out
    for (const u of [dan, eve]) {
      expect((await api.post('/v1/follows', { userId: ann.id }, { token: u.token })).status).toBe(201);
    }
    const loud = await api.post<{ id: string }>('/v1/status', { content: 'now famous' }, { token: ann.token });
    await eventually('Ann pulled, her post in her own list', async () => {
      const listed = await store.zrevrange(keys.authorPosts(ann.id), 0, -1);
      return (await store.hexists(keys.pulledAuthors(), ann.id)) === 1 && listed[0] === loud.body.id
        ? listed
        : undefined;
    });
    // Bob's feed now merges Ann at read time: her entries left it, and it names her as pulled (a follower)
    await eventually('Bob’s feed pulls Ann', async () => {
      const pulls = presentMembers(await store.hgetall(keys.pulls(bob.id)));
      return pulls.get(ann.id) === 'p' ? true : undefined;
    });
    expect(await feed(bob.id)).toEqual([bobs.body.id]);
    // her own feed still has her own posts
    expect((await feed(ann.id))?.[0]).toBe(loud.body.id);

    const metrics = await (await fetch(`${builder.url}/metrics`)).text();
    expect(metrics).toMatch(/^feed_rebuilds_total\{outcome="built"[^}]*\} 3$/m);
    expect(metrics).toMatch(/^feed_fanout_writes_total\{kind="add",changed="true"[^}]*\} [1-9]\d*$/m);
  });
});
