import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import type { Keyspace } from './keys.ts';
import { keyspace } from './keys.ts';
import type { ScriptedRedis, WriteBatch } from './scripts.ts';
import { registerScripts, writeBatch } from './scripts.ts';
import { DELETED, rowVersion, sequenceVersion } from './versions.ts';
import { hashTag, WRITES_PER_CALL } from './write-batch.ts';

const seq = (commit: number, index: number) => sequenceVersion(`["${commit}","${index}"]`);

/** A deterministic stream of writes of every shape over a few keys, some older than what they follow. */
function writeStream(n: number) {
  let state = 7;
  const next = (m: number) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % m;
  };
  return Array.from({ length: n }, (_, i) => ({ i, kind: next(112), id: `k${next(4)}`, version: next(30) + 1 }));
}

type Step = ReturnType<typeof writeStream>[number];

/** Queues one step on a batch, or runs it as its own script (the same write either way). */
function queue(b: WriteBatch, ks: Keyspace, { i, kind, id, version }: Step) {
  const v = rowVersion(version);
  if (kind < 30) b.putPart(ks.profile(id), 'uv', 'u', v, `{"i":${i}}`, 60_000);
  else if (kind < 33) b.deleteDocument(ks.profile(id), 60_000);
  else if (kind < 38) b.removePart(ks.profile(id), 'pv', 'p', kind < 35 ? DELETED : v);
  else if (kind < 43) b.putPart(ks.profile(id), 'pv', 'p', v, `{"p":${i}}`, 60_000);
  else if (kind < 46) b.hdel(ks.profile(id), 'pv', 'p');
  else if (kind < 70)
    b.setMember(ks.roomMembers(id), `u${version % 5}`, seq(version, i % 3), kind < 60 ? 'MEMBER' : '-');
  else if (kind < 95) {
    // every third an edit, which may be refused as outside the list's span
    b.addMessage(ks.roomRecent(id), ks.roomBodies(id), `m${version}`, version, v, `{"i":${i}}`, 5, i % 3 === 0);
  } else if (kind < 100) b.deleteMessage(ks.roomRecent(id), ks.roomBodies(id), `m${version}`);
  else if (kind < 109) {
    // a thread's rank moves with its version here (score = version % 11), below the floor too
    const front = [ks.forumFront(id), ks.forumFrontBodies(id), ks.forumFrontLease(id)] as const;
    b.rankPut(...front, `t${i % 7}`, version % 11, v, `{"i":${i}}`, 4);
  } else b.rankDelete(ks.forumFront(id), ks.forumFrontBodies(id), ks.forumFrontLease(id), `t${version % 7}`);
}

/** Front pages held for k0 and k1 (complete above score 2), none for k2 and k3 but a fill's lease. */
async function frontPages(redis: ScriptedRedis, ks: Keyspace) {
  for (const id of ['k0', 'k1']) await redis.zadd(ks.forumFront(id), 2, '~floor');
  for (const id of ['k2', 'k3']) await redis.set(ks.forumFrontLease(id), 'token');
}

/** Each write as its own command, awaited in turn: what a batch must be equal to. */
async function oneByOne(redis: ScriptedRedis, ks: Keyspace, steps: Step[]) {
  const replies: unknown[] = [];
  for (const step of steps) {
    const calls: Promise<unknown>[] = [];
    const single = {
      putPart: (...a: Parameters<WriteBatch['putPart']>) => calls.push(redis.putPart(...a)),
      deleteDocument: (...a: Parameters<WriteBatch['deleteDocument']>) => calls.push(redis.deleteDocument(...a)),
      removePart: (...a: Parameters<WriteBatch['removePart']>) => calls.push(redis.removePart(...a)),
      setMember: (...a: Parameters<WriteBatch['setMember']>) => calls.push(redis.setMember(...a)),
      addMessage: (...a: Parameters<WriteBatch['addMessage']>) => calls.push(redis.addMessage(...a)),
      deleteMessage: (...a: Parameters<WriteBatch['deleteMessage']>) => calls.push(redis.deleteMessage(...a)),
      rankPut: (...a: Parameters<WriteBatch['rankPut']>) => calls.push(redis.rankPut(...a)),
      rankDelete: (...a: Parameters<WriteBatch['rankDelete']>) => calls.push(redis.rankDelete(...a)),
      hdel: (key: string, ...fields: string[]) => calls.push(redis.hdel(key, ...fields)),
      exec: () => Promise.resolve([]),
    };
    queue(single, ks, step);
    replies.push(...(await Promise.all(calls)));
  }
  return replies;
}

async function dump(redis: ScriptedRedis, ks: Keyspace) {
  const out: Record<string, unknown> = {};
  for (const id of ['k0', 'k1', 'k2', 'k3']) {
    out[`${id}:profile`] = await redis.hgetall(ks.profile(id));
    out[`${id}:members`] = await redis.hgetall(ks.roomMembers(id));
    out[`${id}:recent`] = await redis.zrange(ks.roomRecent(id), '0', '-1', 'WITHSCORES');
    out[`${id}:bodies`] = await redis.hgetall(ks.roomBodies(id));
    out[`${id}:front`] = await redis.zrange(ks.forumFront(id), '0', '-1', 'WITHSCORES');
    out[`${id}:front:bodies`] = await redis.hgetall(ks.forumFrontBodies(id));
    out[`${id}:front:lease`] = await redis.get(ks.forumFrontLease(id));
  }
  return out;
}

describe('writeBatch: many guarded writes per script call (real Redis)', () => {
  test('a batch answers and stores exactly what each write as its own script does, in queue order', async () => {
    await using ctx = await openTestContext('cache-batch-same');
    const redis = registerScripts(ctx.redis());
    const [single, batched] = [keyspace(`${ctx.redisPrefix}s:`), keyspace(`${ctx.redisPrefix}b:`)];
    // more writes than one call takes, so the batch spans calls
    const steps = writeStream(3 * WRITES_PER_CALL + 17);
    await frontPages(redis, single);
    await frontPages(redis, batched);
    const expected = await oneByOne(redis, single, steps);
    const b = writeBatch(redis);
    for (const step of steps) queue(b, batched, step);
    const results = await b.exec();
    expect(results.filter(([err]) => err)).toEqual([]);
    expect(results.map(([, v]) => v)).toEqual(expected);
    // the stream holds refusals of every kind: older versions, writes under a tombstone, deleted messages
    expect(expected.filter((v) => v === 0).length).toBeGreaterThan(50);
    expect(await dump(redis, batched)).toEqual(await dump(redis, single));
    // replayed in other batch boundaries, the batch still does what the writes one by one do
    for (const [from, to] of [
      [0, 100],
      [50, steps.length],
    ] as const) {
      const again = writeBatch(redis);
      for (const step of steps.slice(from, to)) queue(again, batched, step);
      expect((await again.exec()).map(([, v]) => v)).toEqual(await oneByOne(redis, single, steps.slice(from, to)));
    }
    expect(await dump(redis, batched)).toEqual(await dump(redis, single));
  });

  test('refusals: an older version, a tombstoned document, a deleted message, an older membership', async () => {
    await using ctx = await openTestContext('cache-batch-refusals');
    const redis = registerScripts(ctx.redis());
    const ks = keyspace(ctx.redisPrefix);
    const [doc, gone, recent, bodies] = [ks.profile('a'), ks.profile('b'), ks.roomRecent('r'), ks.roomBodies('r')];
    const b = writeBatch(redis);
    b.putPart(doc, 'uv', 'u', rowVersion(5), '{"v":5}', 60_000);
    b.putPart(doc, 'uv', 'u', rowVersion(4), '{"v":4}', 60_000); // older
    b.putPart(doc, 'uv', 'u', rowVersion(5), '{"v":"again"}', 60_000); // the same version
    b.deleteDocument(gone, 5_000);
    b.putPart(gone, 'uv', 'u', rowVersion(99), '{"late":1}', 60_000); // under the tombstone
    b.deleteMessage(recent, bodies, 'm1');
    b.addMessage(recent, bodies, 'm1', 1, rowVersion(9), '{}', 10); // deleted for good
    b.setMember(ks.roomMembers('r'), 'ann', seq(200, 1), '-');
    b.setMember(ks.roomMembers('r'), 'ann', seq(100, 1), 'MEMBER'); // older
    b.removePart(doc, 'pv', 'p', rowVersion(3));
    b.putPart(doc, 'pv', 'p', rowVersion(2), '{"p":2}', 60_000); // older than the removal
    expect((await b.exec()).map(([err, v]) => err ?? v)).toEqual([1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
    expect(await redis.hgetall(doc)).toEqual({ uv: rowVersion(5), u: '{"v":5}', pv: rowVersion(3) });
    expect(await redis.hgetall(gone)).toEqual({ deleted: '1' });
    expect(await redis.zcard(recent)).toBe(0);
    expect(await redis.hget(ks.roomMembers('r'), 'ann')).toBe(`${seq(200, 1)}-`);
  });

  test('a write Redis refuses answers its error; the writes around it, in the same call, still apply', async () => {
    await using ctx = await openTestContext('cache-batch-error');
    const redis = registerScripts(ctx.redis());
    const ks = keyspace(ctx.redisPrefix);
    await redis.set(ks.profile('string'), 'not a hash');
    const b = writeBatch(redis);
    b.putPart(ks.profile('before'), 'uv', 'u', rowVersion(1), '{}', 60_000);
    b.putPart(ks.profile('string'), 'uv', 'u', rowVersion(1), '{}', 60_000);
    b.setMember(ks.roomMembers('r'), 'ann', seq(1, 1), 'MEMBER');
    const [before, refused, after] = await b.exec();
    expect(before).toEqual([null, 1]);
    expect(refused?.[0]?.message).toMatch(/WRONGTYPE/);
    expect(refused?.[1]).toBeNull();
    expect(after).toEqual([null, 1]);
    expect(await redis.get(ks.profile('string'))).toBe('not a hash');
  });

  test('a call that fails as a whole fails each of its writes, in place', async () => {
    await using ctx = await openTestContext('cache-batch-down');
    const redis = registerScripts(ctx.redis());
    redis.disconnect();
    const b = writeBatch(redis);
    b.putPart(keyspace(ctx.redisPrefix).profile('x'), 'uv', 'u', rowVersion(1), '{}', 60_000);
    b.hdel(keyspace(ctx.redisPrefix).profile('y'), 'pv', 'p');
    const results = await b.exec();
    expect(results).toHaveLength(2);
    expect(results.every(([err, v]) => err instanceof Error && v === null)).toBe(true);
  });

  test('hashTag is the part of a key Redis Cluster hashes', () => {
    expect(hashTag('p:{u:1}:profile')).toBe('u:1');
    expect(hashTag('{room:9}:recent')).toBe('room:9');
    expect(hashTag('no-tag')).toBe('no-tag');
    expect(hashTag('empty{}:{x}')).toBe('empty{}:{x}'); // an empty tag: the whole key
    expect(hashTag('a{b{c}d}')).toBe('b{c');
  });
});
