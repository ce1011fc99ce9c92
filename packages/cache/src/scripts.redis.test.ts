import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { keyspace } from './keys.ts';
import { presentMembers, registerScripts, scriptedPipeline } from './scripts.ts';
import { DELETED, rowVersion, sequenceVersion } from './versions.ts';

const seq = (commit: number, index: number) => sequenceVersion(`["${commit}","${index}"]`);

describe('guarded projection writes (real Redis)', () => {
  test('a document part changes only for a newer version; a tombstone refuses everything', async () => {
    await using ctx = await openTestContext('cache-doc');
    const redis = registerScripts(ctx.redis());
    const key = keyspace(ctx.redisPrefix).profile('u1');
    expect(await redis.putPart(key, 'uv', 'u', rowVersion(2), '{"name":"two"}', 60_000)).toBe(1);
    expect(await redis.putPart(key, 'uv', 'u', rowVersion(1), '{"name":"one"}', 60_000)).toBe(0);
    expect(await redis.putPart(key, 'uv', 'u', rowVersion(2), '{"name":"again"}', 60_000)).toBe(0);
    expect(await redis.putPart(key, 'pv', 'p', rowVersion(1), '{"bio":"hi"}', 60_000)).toBe(1);
    expect(await redis.hgetall(key)).toEqual({
      uv: rowVersion(2),
      u: '{"name":"two"}',
      pv: rowVersion(1),
      p: '{"bio":"hi"}',
    });
    expect(await redis.pttl(key)).toBeGreaterThan(50_000);
    // versions beyond 2^53 compare exactly (as strings)
    expect(await redis.putPart(key, 'uv', 'u', rowVersion('9007199254740993'), '{"name":"big"}', 60_000)).toBe(1);
    expect(await redis.putPart(key, 'uv', 'u', rowVersion('9007199254740992'), '{"name":"less"}', 60_000)).toBe(0);

    expect(await redis.deleteDocument(key, 5_000)).toBe(1);
    expect(await redis.putPart(key, 'uv', 'u', rowVersion('99999'), '{"name":"late"}', 60_000)).toBe(0);
    expect(await redis.hgetall(key)).toEqual({ deleted: '1' });
    expect(await redis.pttl(key)).toBeLessThanOrEqual(5_000);

    // a removed part stays removed against older versions of it
    const other = keyspace(ctx.redisPrefix).profile('u2');
    await redis.putPart(other, 'pv', 'p', rowVersion(3), '{"bio":"x"}', 60_000);
    expect(await redis.removePart(other, 'pv', 'p', DELETED)).toBe(1);
    expect(await redis.putPart(other, 'pv', 'p', rowVersion(4), '{"bio":"late"}', 60_000)).toBe(0);
    expect(await redis.hget(other, 'p')).toBeNull();
  });

  test('memberships: the newest sequence wins, whatever order the writes arrive in', async () => {
    await using ctx = await openTestContext('cache-members');
    const redis = registerScripts(ctx.redis());
    const key = keyspace(ctx.redisPrefix).roomMembers('r1');
    expect(await redis.setMember(key, 'ann', seq(100, 1), 'MEMBER')).toBe(1);
    expect(await redis.setMember(key, 'ann', seq(200, 1), '-')).toBe(1); // left
    expect(await redis.setMember(key, 'ann', seq(100, 1), 'MEMBER')).toBe(0); // a redelivered join
    expect(await redis.setMember(key, 'bob', seq(150, 2), 'OWNER')).toBe(1);
    expect(await redis.setMember(key, 'bob', seq(150, 1), '-')).toBe(0); // earlier in the same transaction
    expect(presentMembers(await redis.hgetall(key))).toEqual(new Map([['bob', 'OWNER']]));
    expect(await redis.setMember(key, 'ann', seq(300, 1), 'MEMBER')).toBe(1); // joined again
    expect(presentMembers(await redis.hgetall(key))).toEqual(
      new Map([
        ['bob', 'OWNER'],
        ['ann', 'MEMBER'],
      ]),
    );
  });

  test('recent messages: capped newest first, bodies trimmed with them, edits by version, deletes final', async () => {
    await using ctx = await openTestContext('cache-recent');
    const redis = registerScripts(ctx.redis());
    const ks = keyspace(ctx.redisPrefix);
    const [recent, bodies] = [ks.roomRecent('r1'), ks.roomBodies('r1')];
    for (let i = 1; i <= 5; i++) {
      await redis.addMessage(recent, bodies, `m${i}`, 1000 + i, rowVersion(1), `{"n":${i}}`, 3);
    }
    expect(await redis.zrevrange(recent, 0, -1)).toEqual(['m5', 'm4', 'm3']);
    expect(Object.keys(await redis.hgetall(bodies)).sort()).toEqual(['m3', 'm4', 'm5']);
    // an edit of a message that was trimmed away stays out: the window is unchanged
    expect(await redis.addMessage(recent, bodies, 'm1', 1001, rowVersion(2), '{"n":1}', 3, true)).toBe(0);
    expect(await redis.zrevrange(recent, 0, -1)).toEqual(['m5', 'm4', 'm3']);
    // (as a create, a backfill, it comes in and goes again with the trim)
    expect(await redis.addMessage(recent, bodies, 'm1', 1001, rowVersion(2), '{"n":1}', 3)).toBe(1);
    expect(await redis.zrevrange(recent, 0, -1)).toEqual(['m5', 'm4', 'm3']);
    expect(await redis.addMessage(recent, bodies, 'm4', 1004, rowVersion(2), '{"n":"edited"}', 3)).toBe(1);
    expect(await redis.addMessage(recent, bodies, 'm4', 1004, rowVersion(1), '{"n":4}', 3)).toBe(0);
    expect(await redis.hget(bodies, 'm4')).toBe(`${rowVersion(2)}|{"n":"edited"}`);
    await redis.deleteMessage(recent, bodies, 'm5');
    expect(await redis.addMessage(recent, bodies, 'm5', 1005, rowVersion(9), '{"n":5}', 3)).toBe(0);
    expect(await redis.zrevrange(recent, 0, -1)).toEqual(['m4', 'm3']);
  });

  test('an edit of a message the list does not hold is kept out unless it falls within the list', async () => {
    await using ctx = await openTestContext('cache-recent-edit');
    const redis = registerScripts(ctx.redis());
    const ks = keyspace(ctx.redisPrefix);
    const [recent, bodies] = [ks.roomRecent('r1'), ks.roomBodies('r1')];
    const add = (id: string, score: number, version: number, edit: boolean) =>
      redis.addMessage(recent, bodies, id, score, rowVersion(version), `{"id":"${id}","v":${version}}`, 10, edit);
    // the list was evicted: an edit cannot start it, since messages newer than the edited one may be missing
    expect(await add('old1', 100, 2, true)).toBe(0);
    expect(await redis.exists(recent, bodies)).toBe(0);
    // new messages start it again; edits of older messages stay out, else they would stand next to the new ones
    // with the messages between missing (a page would have a hole)
    expect(await add('new1', 500, 1, false)).toBe(1);
    expect(await add('new2', 600, 1, false)).toBe(1);
    expect(await add('old1', 100, 2, true)).toBe(0);
    expect(await add('old2', 499, 3, true)).toBe(0);
    // an edit within the list's span is taken (it belongs there: its create is still on its way, or was replayed
    // out of this list), and so is an edit of a message the list holds
    expect(await add('mid', 550, 2, true)).toBe(1);
    expect(await add('new1', 500, 2, true)).toBe(1);
    expect(await redis.zrevrange(recent, 0, -1)).toEqual(['new2', 'mid', 'new1']);
    expect(await redis.hget(bodies, 'new1')).toBe(`${rowVersion(2)}|{"id":"new1","v":2}`);
    // a create (a backfill, a snapshot read) is always taken: the list holds the room's history as it arrives
    expect(await add('older', 50, 1, false)).toBe(1);
    expect(await redis.zrevrange(recent, 0, -1)).toEqual(['new2', 'mid', 'new1', 'older']);
  });

  test('replaying any range of the writes again, in a pipeline, leaves the same state', async () => {
    await using ctx = await openTestContext('cache-replay');
    const redis = registerScripts(ctx.redis());
    const ks = keyspace(ctx.redisPrefix);
    // a deterministic stream of membership and message events over a few keys
    const events = Array.from({ length: 400 }, (_, i) => ({ i, room: `r${i % 3}`, user: `u${(i * 7) % 11}` }));
    const apply = (from: number, to: number) => {
      const p = scriptedPipeline(redis);
      for (const { i, room, user } of events.slice(from, to)) {
        p.setMember(ks.roomMembers(room), user, seq(1000 + i, 1), i % 4 === 0 ? '-' : 'MEMBER');
        if (i % 5 === 0) p.deleteMessage(ks.roomRecent(room), ks.roomBodies(room), `m${i - 5}`);
        else p.addMessage(ks.roomRecent(room), ks.roomBodies(room), `m${i}`, i, rowVersion(1), `{"i":${i}}`, 20);
      }
      return p.exec();
    };
    const dump = async () => {
      const out: Record<string, unknown> = {};
      for (const room of ['r0', 'r1', 'r2']) {
        out[`${room}:members`] = await redis.hgetall(ks.roomMembers(room));
        out[`${room}:recent`] = await redis.zrange(ks.roomRecent(room), '0', '-1', 'WITHSCORES');
        out[`${room}:bodies`] = await redis.hgetall(ks.roomBodies(room));
      }
      return out;
    };
    await apply(0, events.length);
    const once = await dump();
    await apply(100, 250);
    await apply(0, 50);
    await apply(0, events.length);
    expect(await dump()).toEqual(once);
  });
});
