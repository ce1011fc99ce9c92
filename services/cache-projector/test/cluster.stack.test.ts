import { Cluster } from 'ioredis';
import { describe, expect, test } from 'vitest';
import { keyspace } from '@bgc/cache/keys';
import { startRedisCluster } from '@bgc/cache/redis-cluster';
import { presentMembers } from '@bgc/cache/scripts';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import { client, signUp } from '../../write-api/test/client.ts';
import { startWriteApi } from '../../write-api/test/server.ts';
import { startCdc } from '../../cdc/test/cdc-process.ts';
import { audit } from '../src/audit.ts';
import { startProjector } from './projector-process.ts';

describe('cache-projector on a Redis Cluster', () => {
  test('the same projections land on a three-master cluster, each on its slot', async () => {
    await using cluster = await startRedisCluster();
    await using ctx = await openTestContext('projector-cluster', { migrated: true });
    await using _cdc = await startCdc(ctx);
    await using server = await startWriteApi(ctx);
    await using projector = await startProjector(ctx, {
      BGC_PROJECTOR_REDIS_CLUSTER_NODES: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(','),
    });
    const api = client(server.url);
    const redis = new Cluster(cluster.nodes);
    try {
      const ks = keyspace(ctx.redisPrefix);
      const users: Awaited<ReturnType<typeof signUp>>[] = [];
      for (let i = 0; i < 6; i++) users.push(await signUp(api, `C${i}`));
      const room = await api.post<{ id: string }>('/v1/rooms', { name: 'c' }, { token: users[0]?.token });
      for (const u of users.slice(1)) await api.post(`/v1/rooms/${room.body.id}/join`, {}, { token: u.token });
      const sent = await api.post<{ id: string }>(
        `/v1/rooms/${room.body.id}/messages`,
        { content: 'on a cluster' },
        { token: users[2]?.token },
      );
      const { members, profiles } = await eventually('the projections on the cluster', async () => {
        const members = presentMembers(await redis.hgetall(ks.roomMembers(room.body.id)));
        const held = await Promise.all(users.map((u) => redis.hexists(ks.profile(u.id), 'u')));
        const profiles = held.filter(Boolean).length;
        const sentThere = await redis.zscore(ks.roomRecent(room.body.id), sent.body.id);
        return members.size === 6 && profiles === 6 && sentThere ? { members, profiles } : undefined;
      });
      expect(members.size).toBe(6);
      expect(profiles).toBe(6);
      expect(await redis.zrange(ks.roomRecent(room.body.id), '0', '-1')).toEqual([sent.body.id]);
      // the documents are spread over the masters
      const holders = await Promise.all(
        redis.nodes('master').map(async (n) => (await n.keys(`${ctx.redisPrefix}*`)).length > 0),
      );
      expect(holders.filter(Boolean).length).toBeGreaterThan(1);
      // the auditor reads them on the cluster as on one server, and finds them right
      const result = await audit(await ctx.pg('primary'), redis, ks, {
        recentMessages: 100,
        settleMs: 500,
        rechecks: 3,
      });
      expect(result).toMatchObject({ users: 6, rooms: 1, mismatches: [] });
      expect(result.checked).toBe(6 * 7 + 2);
      expect(await projector.stop()).toBe(0);
    } finally {
      redis.disconnect();
    }
  }, 120_000);
});
