import { Cluster } from 'ioredis';
import { describe, expect, test } from 'vitest';
import { keyspace } from './keys.ts';
import { startRedisCluster } from './redis-cluster.ts';
import { presentMembers, registerScripts, writeBatch } from './scripts.ts';
import { rowVersion, sequenceVersion } from './versions.ts';

describe('the guarded writes on a Redis Cluster (three masters from Debian’s redis-server)', () => {
  test('a batch spanning every node applies each script on its slot; replayed, it changes nothing', async () => {
    await using cluster = await startRedisCluster();
    const client = registerScripts(new Cluster(cluster.nodes, { enableAutoPipelining: true }));
    try {
      const ks = keyspace('c:');
      const ids = Array.from({ length: 60 }, (_, i) => `id-${i}`);
      const apply = () => {
        const batch = writeBatch(client);
        ids.forEach((id, i) => {
          batch.putPart(ks.profile(id), 'uv', 'u', rowVersion(1), `{"id":"${id}"}`, 60_000);
          batch.setMember(ks.roomMembers(id), `u${i}`, sequenceVersion(`["${100 + i}","1"]`), 'MEMBER');
          batch.addMessage(ks.roomRecent(id), ks.roomBodies(id), `m${i}`, i, rowVersion(1), '{}', 10);
        });
        return batch.exec();
      };
      const first = await apply();
      expect(first.filter(([err]) => err)).toEqual([]);
      expect(first.every(([, v]) => v === 1)).toBe(true);
      // the keys really are spread: every master holds some
      const perNode = await Promise.all(client.nodes('master').map((n) => n.dbsize()));
      expect(perNode.every((n) => n > 0)).toBe(true);
      const again = await apply();
      expect(again.every(([err, v]) => err === null && v === 0)).toBe(true);
      expect(await client.hget(ks.profile('id-7'), 'u')).toBe('{"id":"id-7"}');
      expect(presentMembers(await client.hgetall(ks.roomMembers('id-7')))).toEqual(new Map([['u7', 'MEMBER']]));
      expect(await client.zrange(ks.roomRecent('id-7'), '0', '-1')).toEqual(['m7']);
      // why the batch is not one pipeline there: a cluster pipeline must keep to one node
      const mixed = client.pipeline();
      for (const id of ids) mixed.hget(ks.profile(id), 'u');
      await expect(mixed.exec()).rejects.toThrow(/same slot|same node|slots allocation/i);
    } finally {
      client.disconnect();
    }
  }, 60_000);
});
