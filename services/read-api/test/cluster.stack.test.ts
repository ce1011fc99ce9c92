import { Cluster } from 'ioredis';
import { describe, expect, test } from 'vitest';
import { statusBodyKey } from '@bgc/cache/feed-keys';
import { invalidationChannel } from '@bgc/cache/invalidation';
import { keyspace } from '@bgc/cache/keys';
import { startRedisCluster } from '@bgc/cache/redis-cluster';
import { presentMembers } from '@bgc/cache/scripts';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import { replayedOn } from '@bgc/testkit/replica';
import { startCdc } from '../../cdc/test/cdc-process.ts';
import { startProjector } from '../../cache-projector/test/projector-process.ts';
import { startFeedBuilder } from '../../feed-builder/test/feed-builder-process.ts';
import { client, signUp } from '../../write-api/test/client.ts';
import { startWriteApi } from '../../write-api/test/server.ts';
import { startReadApi } from './processes.ts';

interface Profile {
  id: string;
  name: string;
  bio: string | null;
  counts: { friends: number; followers: number; following: number };
}
interface Page<T> {
  items: T[];
  hasNext: boolean;
  next: string | null;
}
interface Feed extends Page<{ id: string; content: string; author: { id: string } }> {
  partial: boolean;
  source: 'redis' | 'database';
}

describe('read-api and its writers on a Redis Cluster as the cache Redis', () => {
  test('write API, projector, feed builder and read API on three masters: every read from the cluster equals the database', async () => {
    await using cluster = await startRedisCluster();
    await using ctx = await openTestContext('rapi-cluster', { migrated: true });
    const nodes = cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',');
    await using _cdc = await startCdc(ctx);
    await using writeApi = await startWriteApi(ctx, { BGC_WRITE_API_REDIS_CLUSTER_NODES: nodes });
    await using _projector = await startProjector(ctx, { BGC_PROJECTOR_REDIS_CLUSTER_NODES: nodes });
    await using _builder = await startFeedBuilder(ctx, { BGC_FEED_REDIS_CLUSTER_NODES: nodes });
    // L1 entries outlive the test: only an invalidation over the cluster's pub/sub can make an edit visible
    await using reader = await startReadApi(ctx, {
      BGC_READ_API_REDIS_CLUSTER_NODES: nodes,
      BGC_READ_API_L1_TTL_MS: '600000',
    });
    const redis = new Cluster(cluster.nodes);
    try {
      const api = client(writeApi.url);
      const read = client(reader.url);
      const ks = keyspace(ctx.redisPrefix);
      const db = await ctx.connectAs('migrator');
      const replica = await ctx.pg('replica');
      let lsn = '0/0';
      /** A write through the write API; its commit LSN is remembered, so reads can wait for the replica. */
      const write = async <T>(path: string, body: unknown, token: string, method: 'post' | 'patch' = 'post') => {
        const r = await api[method]<T>(path, body, { token });
        expect(r.status, `${path}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
        lsn = r.headers.get('commit-lsn') ?? lsn;
        return r.body;
      };
      const replayed = () => replayedOn(replica, lsn, 'the writes replayed on the replica');
      /** The same request answered by the database (a Commit-LSN the replica has replayed: no cache is asked). */
      const fromDb = async <T>(path: string, token: string) => {
        const r = await read.get<T>(path, { token, headers: { 'commit-lsn': '0/0' } });
        expect(r.headers.get('cache'), path).toBe('bypass');
        return r.body;
      };

      const [ann, bob, cat, dan] = await Promise.all(['Ann', 'Bob', 'Cat', 'Dan'].map((n) => signUp(api, n)));
      if (!ann || !bob || !cat || !dan) throw new Error('sign-up failed');
      await write('/v1/me/profile', { bio: 'plays go' }, ann.token, 'patch');
      for (const friend of [bob, cat]) {
        await write('/v1/friends/requests', { userId: ann.id }, friend.token);
        await write(`/v1/friends/requests/${friend.id}/accept`, undefined, ann.token);
      }
      await write('/v1/follows', { userId: ann.id }, dan.token);
      const room = await write<{ id: string }>('/v1/rooms', { name: 'lobby' }, ann.token);
      for (const u of [bob, cat]) await write(`/v1/rooms/${room.id}/join`, {}, u.token);
      for (const [i, u] of [ann, bob, cat, ann, bob].entries()) {
        await write(`/v1/rooms/${room.id}/messages`, { content: `hello ${i}` }, u.token);
      }
      const category = (
        await db.query<{ id: string }>(`INSERT INTO forum_categories (slug, name) VALUES ('go', 'Go') RETURNING id`)
      ).rows[0]?.id;
      for (const [i, u] of [ann, bob, cat, dan].entries()) {
        await write(`/v1/forum/categories/${category}/threads`, { title: `Thread ${i}`, content: 'first' }, u.token);
      }
      for (const [u, content, visibility] of [
        [ann, 'ann public', 'PUBLIC'],
        [ann, 'ann friends only', 'FRIENDS'],
        // Cat is Ann's friend, not Bob's: not in Bob's feed
        [cat, 'cat friends only', 'FRIENDS'],
        [bob, 'bob public', 'PUBLIC'],
        [dan, 'dan public', 'PUBLIC'],
      ] as const) {
        await write('/v1/status', { content, visibility }, u.token);
      }

      // the projector has caught up with Ann's document, her friends and the room; the replica with every write
      await eventually('the projections on the cluster', async () => {
        const doc = await redis.hgetall(ks.profile(ann.id));
        const friends = presentMembers(await redis.hgetall(ks.friends(ann.id)));
        const messages = await redis.zcard(ks.roomRecent(room.id));
        return doc.p?.includes('plays go') && friends.size === 2 && messages === 5 ? true : undefined;
      });
      await replayed();

      // a profile: from the cluster, then from L1; an edit drops it from L1 through pub/sub on the cluster
      const profilePath = `/v1/users/${ann.id}`;
      const profile = await read.get<Profile>(profilePath, { token: bob.token });
      expect(profile.headers.get('cache')).toBe('hit');
      expect(profile.body).toEqual(await fromDb<Profile>(profilePath, bob.token));
      expect(profile.body).toMatchObject({ name: 'Ann', bio: 'plays go', counts: { friends: 2 } });
      await eventually('Ann’s profile in L1', async () => {
        const r = await read.get(profilePath, { token: bob.token });
        return r.headers.get('cache') === 'l1' ? true : undefined;
      });
      await write('/v1/me/profile', { bio: 'plays go and chess' }, ann.token, 'patch');
      const edited = await eventually('the edit through the invalidation', async () => {
        const r = await read.get<Profile>(profilePath, { token: bob.token });
        return r.body.bio === 'plays go and chess' ? r : undefined;
      });
      await replayed();
      expect(edited.body).toEqual(await fromDb<Profile>(profilePath, bob.token));
      const bio = await db.query<{ bio: string }>('SELECT bio FROM profiles WHERE user_id = $1', [ann.id]);
      expect(bio.rows[0]?.bio).toBe('plays go and chess');

      // the friends page: filled into the cluster, then a hit
      const friendsPath = `/v1/users/${ann.id}/friends`;
      const friends = await eventually('the friends page from the cluster', async () => {
        const r = await read.get<Page<{ id: string }>>(friendsPath, { token: bob.token });
        return r.headers.get('cache') === 'hit' ? r : undefined;
      });
      expect(friends.body).toEqual(await fromDb(friendsPath, bob.token));
      expect(friends.body.items.map((f) => f.id).sort()).toEqual([bob.id, cat.id].sort());

      // the room's first page from the recent list on the cluster
      const historyPath = `/v1/rooms/${room.id}/messages?limit=3`;
      const history = await read.get<Page<{ id: string }>>(historyPath, { token: bob.token });
      expect(history.headers.get('cache')).toBe('hit');
      expect(history.body.items).toEqual((await fromDb<Page<unknown>>(historyPath, bob.token)).items);
      const newest = await db.query<{ id: string }>(
        'SELECT id FROM messages WHERE room_id = $1 ORDER BY created_at DESC, id DESC LIMIT 3',
        [room.id],
      );
      expect(history.body.items.map((m) => m.id)).toEqual(newest.rows.map((m) => m.id));

      // the forum's front page: filled from the database (the projector's thread events may cancel a fill that
      // read before them), then from the cluster
      const forumPath = `/v1/forum/categories/${category}/threads?limit=10`;
      const miss = await read.get<Page<{ id: string }>>(forumPath, { token: ann.token });
      expect(miss.headers.get('cache')).toBe('miss');
      await eventually('a front-page fill to stick', async () => {
        await read.get(forumPath, { token: ann.token });
        return (await redis.zcard(ks.forumFront(category ?? ''))) === 4 + 1 ? true : undefined; // and its floor
      });
      const hit = await read.get<Page<{ id: string }>>(forumPath, { token: ann.token });
      expect(hit.headers.get('cache')).toBe('hit');
      expect(hit.body).toEqual(miss.body);
      const threads = await db.query<{ id: string }>(
        'SELECT id FROM forum_threads WHERE category_id = $1 ORDER BY last_post_at DESC, id DESC',
        [category],
      );
      expect(hit.body.items.map((t) => t.id)).toEqual(threads.rows.map((t) => t.id));

      // Bob's home feed: built by the feed builder (bodies on the cluster); one body evicted is read again
      const asked = await read.get<Feed>('/v1/feed', { token: bob.token });
      expect(asked.body).toMatchObject({ partial: true, source: 'database' });
      const built = await eventually('Bob’s feed built', async () => {
        const r = await read.get<Feed>('/v1/feed', { token: bob.token });
        return r.body.source === 'redis' ? r.body.items : undefined;
      });
      const evicted = built[0];
      if (!evicted) throw new Error('Bob’s feed is empty');
      // evicted from both levels: gone from the cluster, and dropped from the read API's L1 (which the last read
      // filled) the way an edit's invalidation drops it, over the cluster's pub/sub
      const bodyKey = statusBodyKey(ctx.redisPrefix, evicted.id);
      await redis.del(bodyKey);
      await redis.publish(invalidationChannel(ctx.redisPrefix), bodyKey);
      const feed = await eventually('the evicted body read again and filled back', async () => {
        const r = await read.get<Feed>('/v1/feed', { token: bob.token });
        return (await redis.exists(bodyKey)) === 1 ? r : undefined;
      });
      expect(feed.headers.get('cache')).toBe('hit');
      expect(feed.body.source).toBe('redis');
      const truth = await fromDb<Feed>('/v1/feed', bob.token);
      expect(feed.body.items).toEqual(truth.items);
      expect(feed.body.items.map((i) => i.content)).toEqual(['bob public', 'ann friends only', 'ann public']);

      // the keys are spread over the masters, and none went to the single cache Redis at BGC_REDIS_URL
      const holders = await Promise.all(
        redis.nodes('master').map(async (n) => (await n.keys(`${ctx.redisPrefix}*`)).length > 0),
      );
      expect(holders.filter(Boolean).length).toBeGreaterThan(1);
      const single = [ks.profile(ann.id), ks.roomRecent(room.id), statusBodyKey(ctx.redisPrefix, evicted.id)];
      expect(await ctx.redis().exists(...single)).toBe(0);
    } finally {
      redis.disconnect();
    }
  }, 180_000);
});
