import { Cluster } from 'ioredis';
import { describe, expect, test } from 'vitest';
import { keyspace } from './keys.ts';
import { startRedisCluster } from './redis-cluster.ts';
import { presentMembers, registerScripts, writeBatch } from './scripts.ts';
import { rowVersion, sequenceVersion } from './versions.ts';
import { WRITES_PER_CALL } from './write-batch.ts';

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

  test('many writes on one hash tag: calls in queue order, refusals answered, a flushed script cache survived', async () => {
    await using cluster = await startRedisCluster();
    const client = registerScripts(new Cluster(cluster.nodes, { enableAutoPipelining: true }));
    try {
      const ks = keyspace('c:');
      const [recent, bodies] = [ks.roomRecent('busy'), ks.roomBodies('busy')];
      const apply = (from: number, to: number) => {
        const batch = writeBatch(client);
        for (let i = from; i < to; i++) {
          batch.addMessage(recent, bodies, `m${i}`, i, rowVersion(1), `{"i":${i}}`, 50);
          batch.setMember(ks.roomMembers('busy'), `u${i % 7}`, sequenceVersion(`["${i}","1"]`), 'MEMBER');
        }
        // other tags in the same batch, with the refusals: an older version, a tombstoned document
        batch.putPart(ks.profile('a'), 'uv', 'u', rowVersion(from + 1), `{"from":${from}}`, 60_000);
        batch.putPart(ks.profile('a'), 'uv', 'u', rowVersion(from), '{"older":1}', 60_000);
        batch.deleteDocument(ks.profile('gone'), 60_000);
        batch.putPart(ks.profile('gone'), 'uv', 'u', rowVersion(99), '{}', 60_000);
        return batch.exec();
      };
      // more writes on one tag than one call takes: several calls, applied in order (the cap keeps the newest)
      const first = await apply(0, WRITES_PER_CALL);
      expect(first.filter(([err]) => err)).toEqual([]);
      expect(first.slice(-4).map(([, v]) => v)).toEqual([1, 0, 1, 0]);
      expect(await client.zrange(recent, '0', '-1')).toEqual(
        Array.from({ length: 50 }, (_, i) => `m${WRITES_PER_CALL - 50 + i}`),
      );
      // every node forgets its scripts: the batch loads it again and still applies in order
      await Promise.all(client.nodes('master').map((n) => n.script('FLUSH')));
      const second = await apply(WRITES_PER_CALL, WRITES_PER_CALL + 100);
      expect(second.filter(([err]) => err)).toEqual([]);
      expect(await client.zrange(recent, '-1', '-1')).toEqual([`m${WRITES_PER_CALL + 99}`]);
      expect(await client.zcard(recent)).toBe(50);
      expect(await client.hlen(bodies)).toBe(50);
      expect(await client.hget(ks.profile('a'), 'u')).toBe(`{"from":${WRITES_PER_CALL}}`);
      expect(await client.hgetall(ks.profile('gone'))).toEqual({ deleted: '1' });
    } finally {
      client.disconnect();
    }
  }, 60_000);
});
