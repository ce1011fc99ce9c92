/**
 * The oracle test of issue 6: random posts, edits, deletes, friend requests, accepts, unfriends, follows, unfollows
 * and blocks across a few hundred users, with the feed builder killed and restarted in between; then every user's
 * first feed page from the read API (Redis, merged with the pulled authors) equals the SQL query's answer (the same
 * route, asked to read the database).
 */
import crypto from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { feedKeyspace } from '@bgc/cache/feed-keys';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import { seededRandom } from '@bgc/testkit/seeded-random';
import { startCdc } from '../../cdc/test/cdc-process.ts';
import { startReadApi } from '../../read-api/test/processes.ts';
import type { Api } from '../../write-api/test/client.ts';
import { client } from '../../write-api/test/client.ts';
import { startWriteApi } from '../../write-api/test/server.ts';
import { startFeedBuilder } from './feed-builder-process.ts';

const USERS = 200;
const INACTIVE = 20;
const OPS_PER_ROUND = 300;
/** low enough that a few authors cross it during the test: both sides of the threshold are exercised */
const THRESHOLD = 6;

interface User {
  id: string;
  token: string;
}
interface FeedPage {
  items: unknown[];
  source: string;
}

/** Users straight into the database with a bearer token each (the write API's sign-up hashes a password: slow). */
async function createUsers(ctx: Awaited<ReturnType<typeof openTestContext>>): Promise<User[]> {
  const db = await ctx.pg('primary');
  const users = Array.from({ length: USERS }, (_, i) => ({
    id: crypto.randomUUID(),
    token: crypto.randomBytes(32).toString('base64url'),
    inactive: i < INACTIVE,
  }));
  await db.query(
    `INSERT INTO users (id, email, name, password_hash, created_at)
     SELECT id, 'oracle' || i || '@example.com', 'Oracle ' || i, 'x',
            CASE WHEN inactive THEN now() - interval '60 days' ELSE now() END
       FROM unnest($1::uuid[], $2::boolean[]) WITH ORDINALITY AS t(id, inactive, i)`,
    [users.map((u) => u.id), users.map((u) => u.inactive)],
  );
  await db.query(
    `INSERT INTO auth_tokens (token_hash, user_id, expires_at)
     SELECT sha256(convert_to(token, 'UTF8')), id, now() + interval '1 day' FROM unnest($1::text[], $2::uuid[]) AS t(token, id)`,
    [users.map((u) => u.token), users.map((u) => u.id)],
  );
  return users;
}

/** One random mutation through the write API; refusals (already friends, not yours, blocked) are part of the game. */
async function randomOp(api: Api, users: User[], posts: { id: string; author: User }[], next: () => number) {
  const pick = <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)] as T;
  // a few loud authors post and are followed more: some of them end up above the threshold
  const me = next() < 0.3 ? pick(users.slice(INACTIVE, INACTIVE + 5)) : pick(users);
  const other = next() < 0.4 ? pick(users.slice(INACTIVE, INACTIVE + 5)) : pick(users);
  const as = { token: me.token };
  const r = next();
  if (r < 0.33) {
    const visibility = next() < 0.7 ? 'PUBLIC' : 'FRIENDS';
    const res = await api.post<{ id: string }>('/v1/status', { content: `post ${next()}`, visibility }, as);
    if (res.status === 201) posts.push({ id: res.body.id, author: me });
  } else if (r < 0.43 && posts.length > 0) {
    const p = pick(posts);
    const body = next() < 0.5 ? { content: `edited ${next()}` } : { visibility: next() < 0.5 ? 'PUBLIC' : 'FRIENDS' };
    await api.patch(`/v1/status/${p.id}`, body, { token: p.author.token });
  } else if (r < 0.5 && posts.length > 0) {
    const p = pick(posts);
    await api.del(`/v1/status/${p.id}`, { token: p.author.token });
  } else if (r < 0.62) {
    await api.post('/v1/friends/requests', { userId: other.id }, as);
  } else if (r < 0.72) {
    await api.post(`/v1/friends/requests/${other.id}/accept`, {}, as);
  } else if (r < 0.77) {
    await api.del(`/v1/friends/${other.id}`, as);
  } else if (r < 0.92) {
    await api.post('/v1/follows', { userId: other.id }, as);
  } else if (r < 0.96) {
    await api.del(`/v1/follows/${other.id}`, as);
  } else {
    await api.post('/v1/blocks', { userId: other.id }, as);
  }
}

async function rounds(api: Api, users: User[], posts: { id: string; author: User }[], next: () => number) {
  // four at a time: concurrent writers, as in production, without flooding the machine
  let left = OPS_PER_ROUND;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (left-- > 0) await randomOp(api, users, posts, next);
    }),
  );
}

describe('feed oracle', () => {
  test('after random writes and a builder restart, every first page equals the SQL query', async () => {
    const seed = Number(process.env.BGC_ORACLE_SEED ?? Date.now() % 1_000_000);
    const next = seededRandom(seed);
    await using ctx = await openTestContext('feed-oracle', { migrated: true });
    await using cdc = await startCdc(ctx);
    await using writeApi = await startWriteApi(ctx);
    const env = { BGC_FEED_PULL_THRESHOLD: String(THRESHOLD) };
    const group = `feed-builder-${ctx.id}`;
    let builder = await startFeedBuilder(ctx, env, group);
    await using reader = await startReadApi(ctx);
    void cdc;
    const api = client(writeApi.url);
    const read = client(reader.url);
    const store = ctx.redisStore();
    const keys = feedKeyspace(ctx.redisPrefix);
    const users = await createUsers(ctx);
    const posts: { id: string; author: User }[] = [];
    // a failure names the seed and shows the end of each process's log (a process that died says why there)
    const explain = (err: unknown): never => {
      const tail = (name: string, logs: string[]) => `--- ${name}\n${logs.slice(-8).join('\n')}`;
      throw new Error(
        [
          `seed ${seed}: ${(err as Error).message}`,
          tail('write-api', writeApi.logs),
          tail('read-api', reader.logs),
          tail('feed-builder', builder.logs),
        ].join('\n'),
        { cause: err },
      );
    };

    // everyone reads once: the active users' feeds are built, so the writes below are fanned out to them
    for (const u of users) await read.get('/v1/feed', { token: u.token });
    await eventually(
      'the active users’ feeds built',
      async () => {
        const p = store.pipeline();
        for (const u of users.slice(INACTIVE)) p.hexists(keys.guards(u.id), '@built');
        const built = ((await p.exec()) ?? []).filter(([, v]) => v === 1).length;
        return built === USERS - INACTIVE ? true : undefined;
      },
      { timeoutMs: 60_000 },
    );

    await rounds(api, users, posts, next).catch(explain);
    // killed mid-stream (nothing flushed), writes go on while it is down, then it resumes from its commits
    await builder.kill();
    await rounds(api, users, posts, next).catch(explain);
    builder = await startFeedBuilder(ctx, env, group);
    await using _restarted = builder;
    await rounds(api, users, posts, next).catch(explain);
    const last = await api.post<{ id: string }>(
      '/v1/status',
      { content: 'the end' },
      { token: users[INACTIVE]!.token },
    );
    const lsn = last.headers.get('commit-lsn') ?? '0/0';

    const mismatches = async () => {
      const wrong: { user: string; redis: unknown; db: unknown }[] = [];
      for (const u of users) {
        const [cached, fromDb] = await Promise.all([
          read.get<FeedPage>('/v1/feed', { token: u.token }),
          read.get<FeedPage>('/v1/feed', { token: u.token, headers: { 'commit-lsn': lsn } }),
        ]);
        if (JSON.stringify(cached.body.items) !== JSON.stringify(fromDb.body.items)) {
          wrong.push({ user: u.id, redis: cached.body, db: fromDb.body.items });
        }
      }
      return wrong;
    };
    let lastSeen: Awaited<ReturnType<typeof mismatches>> = [];
    await eventually(
      `every first page equal to the SQL query's (seed ${seed})`,
      async () => {
        lastSeen = await mismatches();
        return lastSeen.length === 0 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    ).catch((err: unknown) =>
      explain(new Error(`${(err as Error).message}: ${lastSeen.length} differ, first ${JSON.stringify(lastSeen[0])}`)),
    );
    const pulled = await store.hlen(keys.pulledAuthors());
    const servedFromRedis = (
      await Promise.all(users.map((u) => read.get<FeedPage>('/v1/feed', { token: u.token })))
    ).filter((r) => r.body.source === 'redis').length;
    // both sides of the threshold, and the active users' pages came from Redis
    expect(pulled).toBeGreaterThan(0);
    expect(servedFromRedis).toBe(USERS - INACTIVE);
    expect(posts.length).toBeGreaterThan(100);
    // and the feeds were kept by the fan-out, not rebuilt: the restarted builder built none
    const metrics = await (await fetch(`${builder.url}/metrics`)).text();
    expect(metrics).not.toMatch(/^feed_rebuilds_total\{outcome="built"[^}]*\} [1-9]/m);
    expect(metrics).toMatch(/^feed_fanout_writes_total\{kind="add",changed="true"[^}]*\} [1-9]/m);
  }, 240_000); // hundreds of writes, a restart and 400 page reads, beside other test files on two cores
});
