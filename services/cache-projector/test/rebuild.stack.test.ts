import type { Admin } from 'kafkajs';
import type { Redis } from 'ioredis';
import { describe, expect, test } from 'vitest';
import type { Generations } from '@bgc/cache/generation';
import { countGenerationKeys, generationPrefix, readGenerations, watchGenerations } from '@bgc/cache/generation';
import { feedKeyspace } from '@bgc/cache/feed-keys';
import { countFeeds } from '@bgc/cache/feed-operations';
import { buildSequence } from '@bgc/cache/feed-score';
import { buildFeed, registerFeedScripts } from '@bgc/cache/feed-scripts';
import { keyspace } from '@bgc/cache/keys';
import { PROJECTED_TABLES } from '@bgc/cache/projections';
import { openTestContext } from '@bgc/testkit/context';
import type { TestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import { client, signUp } from '../../write-api/test/client.ts';
import type { Api } from '../../write-api/test/client.ts';
import { startWriteApi } from '../../write-api/test/server.ts';
import { cdcNames, startCdc } from '../../cdc/test/cdc-process.ts';
import { audit } from '../src/audit.ts';
import { startProjector } from './projector-process.ts';
import { runRebuild } from './rebuild-process.ts';

type User = Awaited<ReturnType<typeof signUp>>;

/** Users, rooms, and one random write at a time (sign-ups, messages, joins, friendships, follows, profile edits). */
async function workload(api: Api, users: number) {
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const people: User[] = [];
  for (let i = 0; i < users; i++) people.push(await signUp(api, `U${i}`));
  const rooms: string[] = [];
  for (let i = 0; i < 2; i++) {
    rooms.push(
      (await api.post<{ id: string }>('/v1/rooms', { name: `room ${i}` }, { token: people[i]?.token })).body.id,
    );
  }
  const step = async () => {
    const me = pick(people);
    const other = pick(people.filter((u) => u !== me));
    const room = pick(rooms);
    const r = random();
    if (r < 0.15) people.push(await signUp(api, 'Late'));
    else if (r < 0.45) await api.post(`/v1/rooms/${room}/messages`, { content: `m ${r}` }, { token: me.token });
    else if (r < 0.6) await api.post(`/v1/rooms/${room}/join`, {}, { token: me.token });
    else if (r < 0.7) await api.post('/v1/friends/requests', { userId: other.id }, { token: me.token });
    else if (r < 0.8) await api.post(`/v1/friends/requests/${other.id}/accept`, {}, { token: me.token });
    else if (r < 0.9) await api.post('/v1/follows', { userId: other.id }, { token: me.token });
    else await api.patch('/v1/me/profile', { bio: `bio ${r}` }, { token: me.token });
  };
  return { people, rooms, step };
}

/** Writes in the background until stopped; resolves with how many. */
function writeInBackground(step: () => Promise<void>) {
  let writing = true;
  const done = (async () => {
    let n = 0;
    while (writing) {
      await step();
      n += 1;
    }
    return n;
  })();
  return () => ((writing = false), done);
}

async function unlinkAll(redis: Redis, match: string) {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    if (keys.length > 0) n += await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  return n;
}

const topicsOf = (ctx: TestContext) => PROJECTED_TABLES.map((t) => `${cdcNames(ctx).prefix}.public.${t}`);

/** A group's committed offsets summed, and whether they are at every partition's end. */
async function groupPosition(admin: Admin, group: string, topics: string[]) {
  let sum = 0;
  let atEnd = true;
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    for (const e of ends) {
      const at = Number(committed?.partitions.find((p) => p.partition === e.partition)?.offset ?? -1);
      if (at > 0) sum += at;
      if (Number(e.high) > 0 && at !== Number(e.high)) atEnd = false;
    }
  }
  return { sum, atEnd };
}

/** The new generation holds what Postgres holds: the auditor finds nothing wrong, and nothing is missing. */
async function expectConverged(ctx: TestContext, redis: Redis, g: Generations) {
  const db = await ctx.pg('primary');
  const keys = keyspace(generationPrefix(ctx.redisPrefix, g.live));
  const result = await audit(db, redis, keys, { recentMessages: 100, settleMs: 1000, rechecks: 5 });
  expect(result.mismatches).toEqual([]);
  // the auditor counts an absent projection as a miss; after a flush and a rebuild, none may be absent
  const users = (await db.query<{ id: string }>('SELECT id FROM users')).rows;
  for (const { id } of users) {
    const parts = await redis.hmget(keys.profile(id), 'uv', 'c');
    expect(
      parts.map((p) => p !== null),
      `profile ${id}: uv, c`,
    ).toEqual([true, true]);
  }
  const rooms = await db.query<{ id: string; messages: number }>(
    'SELECT r.id, (SELECT count(*)::int FROM messages m WHERE m.room_id = r.id) AS messages FROM chat_rooms r',
  );
  for (const { id, messages } of rooms.rows) {
    expect(await redis.exists(keys.roomMembers(id))).toBe(1);
    expect(await redis.zcard(keys.roomRecent(id))).toBe(Math.min(messages, 100));
  }
  return { users: users.length, messages: rooms.rows.reduce((n, r) => n + r.messages, 0) };
}

describe('cache-projector: rebuilding the projections into a new generation', () => {
  test('after the cache lost every key: a rebuild while the projector runs, writes go on and reads keep answering; the auditor then finds nothing wrong', async () => {
    await using ctx = await openTestContext('projector-rebuild', { migrated: true });
    await using _cdc = await startCdc(ctx);
    // write-through on (the default): it follows the pointer, so it never refills the old generation
    await using server = await startWriteApi(ctx);
    const group = `projector-${ctx.id}`;
    await using projector = await startProjector(ctx, {}, group);
    const redis = ctx.redis();
    const base = ctx.redisPrefix;
    const admin = ctx.kafka().admin();
    await admin.connect();
    const { people, step } = await workload(client(server.url), 6);
    for (let i = 0; i < 60; i++) await step();
    await eventually('the projector to catch up', async () =>
      (await groupPosition(admin, group, topicsOf(ctx))).atEnd ? true : undefined,
    );
    expect(await redis.hget(keyspace(base).profile(people[0]?.id ?? ''), 'uv')).not.toBeNull();

    // the cache loses everything (FLUSHALL, for this test's keys only: the Redis is shared)
    expect(await unlinkAll(redis, `${base}*`)).toBeGreaterThan(10);

    // a reader on the live generation, as the read API does it, all along
    await using watcher = await watchGenerations(ctx.redisStore(), base, { refreshMs: 500 });
    const reads = { ok: 0, errors: [] as string[], prefixes: new Set<string>() };
    let reading = true;
    const reader = (async () => {
      while (reading) {
        const prefix = watcher.livePrefix();
        await redis.hgetall(watcher.keys().profile(people[0]?.id ?? '')).then(
          () => ((reads.ok += 1), reads.prefixes.add(prefix)),
          (err: unknown) => reads.errors.push(String(err)),
        );
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const stopWriting = writeInBackground(step);
    // slowed down, so that writes land in every phase: before the build, during it, after the switch
    const run = runRebuild(ctx, group, ['--rate', '30', '--chunk', '10', '--grace-ms', '1000']);
    const { code, stdout, stderr } = await run.done;
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^generation g1 is live \(was ""\): replayed \d+ events/m);
    expect(stderr).toMatch(/began building generation g1/);
    expect(stderr).toMatch(/events\/s \| ETA/); // the progress bar
    await new Promise((r) => setTimeout(r, 1000));
    const writes = await stopWriting();
    reading = false;
    await reader;

    await eventually('the projector to catch up', async () =>
      (await groupPosition(admin, group, topicsOf(ctx))).atEnd ? true : undefined,
    );
    const pointer = await readGenerations(ctx.redisStore(), base);
    expect(pointer).toMatchObject({ live: 'g1', retiring: [], seq: 1 });
    expect(pointer.building).toBeUndefined();
    // the projector wrote the new generation too while it was being built, then only it
    expect(projector.logs.some((l) => l.includes('writing a rebuild’s generation too'))).toBe(true);
    // the old generation's keys are gone (the projector kept writing them until the switch)
    expect(await countGenerationKeys(redis, base, '')).toBe(0);
    const { users, messages } = await expectConverged(ctx, redis, pointer);
    expect(users).toBe(people.length);
    expect(messages).toBeGreaterThan(5);
    expect(writes).toBeGreaterThan(10);
    expect(reads.errors).toEqual([]);
    expect(reads.ok).toBeGreaterThan(20);
    expect([...reads.prefixes]).toEqual([base, `${base}g1:`]);
    expect(watcher.livePrefix()).toBe(`${base}g1:`);
    await admin.disconnect();
  }, 240_000);

  test('a rebuild killed midway is refused a second start, resumed from its committed offsets, and converges; a dry run writes nothing; an abort drops a build', async () => {
    await using ctx = await openTestContext('projector-rebuild-resume', { migrated: true });
    await using _cdc = await startCdc(ctx);
    // write-through on (the default): it follows the pointer, so it never refills the old generation
    await using server = await startWriteApi(ctx);
    const group = `projector-${ctx.id}`;
    await using _projector = await startProjector(ctx, {}, group);
    const redis = ctx.redis();
    const store = ctx.redisStore();
    const base = ctx.redisPrefix;
    const admin = ctx.kafka().admin();
    await admin.connect();
    const { people, step } = await workload(client(server.url), 6);
    for (let i = 0; i < 120; i++) await step();
    await eventually('the projector to catch up', async () =>
      (await groupPosition(admin, group, topicsOf(ctx))).atEnd ? true : undefined,
    );

    // home feeds of two users in the store (as the feed builder builds them), for `--feeds`
    const feeds = feedKeyspace(base);
    const feedStore = registerFeedScripts(store);
    for (const user of [people[0], people[1]]) {
      await buildFeed(feedStore, feeds, user?.id ?? '', {
        sequence: buildSequence(1n),
        cap: 10,
        expireAtMs: Date.now() + 600_000,
        entries: [],
        pulls: [],
      });
    }
    expect(await countFeeds(store, feeds)).toBe(2);

    // a dry run: counts, says what it would do, writes nothing
    const keysBefore = await countGenerationKeys(redis, base, '');
    const dry = await runRebuild(ctx, group, ['--dry-run', '--feeds']).done;
    expect(dry.code, dry.stderr).toBe(0);
    const would = /would build generation g1 from (\d+) events .* and delete (\d+) keys/.exec(dry.stdout);
    expect(Number(would?.[1])).toBeGreaterThan(100);
    expect(Number(would?.[2])).toBe(keysBefore);
    expect(dry.stdout).toMatch(/would drop 2 home feeds; each is rebuilt from the replica/);
    expect(await countFeeds(store, feeds)).toBe(2);
    expect((await runRebuild(ctx, group, ['--abort', '--feeds']).done).stderr).toMatch(/USAGE: --feeds goes with/);
    expect(await readGenerations(store, base)).toMatchObject({ live: '', retiring: [], seq: 0 });
    expect(await countGenerationKeys(redis, base, 'g1')).toBe(0);
    expect(await countGenerationKeys(redis, base, '')).toBe(keysBefore);

    // a rebuild, killed once it has committed some of its progress
    const buildGroupOf = async () => {
      const g = await readGenerations(store, base);
      return g.building ? `${group}.rebuild.${g.building}.${g.buildingSince}` : undefined;
    };
    const killedMidway = async (generation: string) => {
      const run = runRebuild(ctx, group, ['--rate', '40', '--chunk', '10']);
      const rebuildGroup = await eventually(`a build of ${generation} to begin`, buildGroupOf);
      expect(rebuildGroup).toContain(`.rebuild.${generation}.`);
      await eventually(
        'the rebuild to commit some progress',
        async () => ((await groupPosition(admin, rebuildGroup, topicsOf(ctx))).sum >= 20 ? true : undefined),
        { timeoutMs: 60_000 },
      );
      await run.kill();
      expect((await groupPosition(admin, rebuildGroup, topicsOf(ctx))).atEnd).toBe(false);
      // the killed member leaves its group once its session times out
      await eventually(
        'the killed rebuild to leave its group',
        async () => ((await admin.describeGroups([rebuildGroup])).groups[0]?.members.length === 0 ? true : undefined),
        { timeoutMs: 30_000 },
      );
      return rebuildGroup;
    };
    await killedMidway('g1');
    expect(await readGenerations(store, base)).toMatchObject({ live: '', building: 'g1' });
    const second = await runRebuild(ctx, group, []).done;
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/BUILD_IN_PROGRESS: .*g1.*--resume/);
    for (let i = 0; i < 10; i++) await step(); // while the build waits: the projector writes g1 too

    const resumed = await runRebuild(ctx, group, ['--resume', '--grace-ms', '500', '--feeds']).done;
    expect(resumed.code, resumed.stderr).toBe(0);
    // the feeds went after the switch (the builder rebuilds each when read)
    expect(resumed.stdout).toMatch(/2 home feeds dropped/);
    expect(resumed.stderr).toMatch(/feeds .*2\/2 dropped/);
    expect(await countFeeds(store, feeds)).toBe(0);
    expect(resumed.stderr).toMatch(/resuming generation g1 at [1-9]\d* of \d+ offsets/);
    expect(resumed.stdout).toMatch(/generation g1 is live \(was ""\): replayed .* \(resumed at [1-9]/);
    await eventually('the projector to catch up', async () =>
      (await groupPosition(admin, group, topicsOf(ctx))).atEnd ? true : undefined,
    );
    const pointer = await readGenerations(store, base);
    expect(pointer).toMatchObject({ live: 'g1', retiring: [] });
    expect(await countGenerationKeys(redis, base, '')).toBe(0);
    await expectConverged(ctx, redis, pointer);
    expect((await runRebuild(ctx, group, ['--resume']).done).stderr).toMatch(/NOTHING_TO_RESUME/);

    // a second build, killed, then dropped: g1 stays live and whole, g2's keys and group are gone
    const g2Group = await killedMidway('g2');
    expect(await countGenerationKeys(redis, base, 'g2')).toBeGreaterThan(0);
    const aborted = await runRebuild(ctx, group, ['--abort', '--grace-ms', '500']).done;
    expect(aborted.code, aborted.stderr).toBe(0);
    expect(await readGenerations(store, base)).toMatchObject({ live: 'g1', retiring: [], seq: 2 });
    expect((await readGenerations(store, base)).building).toBeUndefined();
    expect(await countGenerationKeys(redis, base, 'g2')).toBe(0);
    expect((await admin.listGroups()).groups.map((g) => g.groupId)).not.toContain(g2Group);
    await expectConverged(ctx, redis, await readGenerations(store, base));
    await admin.disconnect();
  }, 300_000);
});
