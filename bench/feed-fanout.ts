/**
 * Fan-out on write (issue 6): how long a post by an author with N active followers takes to be in all their home
 * feeds, and how many feed inserts per second the feed builder sustains. Runs against the stack as deployed: the
 * write API takes the posts, the CDC service streams them, the stack's feed builder fans them out into the store
 * Redis; the bench only sets up the people and watches the feeds.
 *
 *   node bench/feed-fanout.ts [--followers 5000] [--posts 10] [--burst 100] [--concurrency 8]
 *                             [--write-url http://127.0.0.1:23000] [--builder-metrics http://127.0.0.1:23400]
 *
 * Set-up, on the platform database as the migrator (as bench/src/generate.ts loads): one author and N followers
 * (active: signed in now), N accepted FOLLOW relationships, a bearer token for the author. The bench waits until the
 * replica has replayed them (the builder reads the replica), then asks the builder for every feed the way the read
 * API does on a first read (the rebuild's lease, then the request on `feed:rebuild`) and waits until all are built:
 * fan-out only writes into feeds that exist. The author must be under the builder's pull threshold
 * (BGC_FEED_PULL_THRESHOLD, read from the builder's environment) so their posts are fanned out.
 *
 * 1. Latency: --posts posts one after another (each after the last is everywhere, 200 ms apart); for each, the time
 *    from the write API's answer until its entry is in every feed. The builder's own count of acknowledged feed adds
 *    (its /metrics) says when to look; then ZSCORE of the member on each feed not yet holding it, every 5 ms, in one
 *    pipeline. Polling thousands of feeds all along would take Redis's one thread from the fan-out it measures.
 * 2. Sustained: --burst posts sent at once (--concurrency requests in flight); inserts/s = posts × feeds ÷ (first
 *    send → every feed holds every post: the metric first, then ZCARD of every feed). CPU per insert of the feed
 *    builder and of both Redis servers (/proc), and of every process on the machine.
 * 3. Follows into kept feeds (a popular user joins): a new author with three posts, followed by all N followers in
 *    one statement; follows/s from the commit until the builder's feed_events_total has counted them all, and the
 *    three posts checked in a sample of the followers' feeds.
 * 4. The ceiling, same run: redis-benchmark on the store Redis, plain ZADDs of new 73-byte members (a feed entry's
 *    size: a skiplist, as every feed is) into 5,000 sorted sets, 50 clients, pipelines of 32: what Redis's one thread
 *    does with no guard, cap or script; its CPU per ZADD from /proc beside the fan-out's per insert.
 * Afterwards the bench's feeds are dropped and its users deleted (their relationships and posts go with them).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { Redis } from 'ioredis';
import pg from 'pg';
import { databaseEnv } from '@bgc/config/database';
import { loadEnv } from '@bgc/config/env';
import { infraEnv } from '@bgc/config/infra';
import { feedKeyspace } from '@bgc/cache/feed-keys';
import { cpuBetweenSnapshots, cpuSnapshot, perUnit, processCpuSeconds } from './src/process-cpu.ts';
import { percentile, runProgram, table } from './src/stats.ts';
import { benchArgs } from './src/cli-args.ts';

const { values: args } = benchArgs({
  options: {
    followers: { type: 'string', default: '5000' },
    posts: { type: 'string', default: '10' },
    burst: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '8' },
    'write-url': { type: 'string', default: 'http://127.0.0.1:23000' },
    'builder-metrics': { type: 'string', default: 'http://127.0.0.1:23400' },
    'build-timeout': { type: 'string', default: '120' },
    'fanout-timeout': { type: 'string', default: '60' },
  },
});
const log = (s: string) => process.stderr.write(`${s}\n`);
const infra = loadEnv(infraEnv);
const roles = loadEnv(databaseEnv);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const followersWanted = Number(args.followers);
const postsWanted = Number(args.posts);
const burst = Number(args.burst);

/** The stack's feed builder process: its pid and its BGC_* settings (threshold, key prefix). */
function findBuilder(): { pid: number; env: Map<string, string> } {
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmdline.includes('services/feed-builder/src/main.ts')) continue;
      const env = new Map(
        fs
          .readFileSync(`/proc/${pid}/environ`, 'utf8')
          .split('\0')
          .filter((kv) => kv.startsWith('BGC_'))
          .map((kv): [string, string] => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
      return { pid: Number(pid), env };
    } catch {
      // gone, or not ours to read
    }
  }
  throw new Error('no feed builder running (./bgc start)');
}

/** The sum of a counter of the builder's /metrics over the series whose labels include `labels`. */
async function builderCounter(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${args['builder-metrics']}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
    if ((m[1] ?? '').includes(labels)) sum += Number(m[2]);
  }
  return sum;
}
/** Feed adds the builder has had acknowledged by Redis that changed a feed (counted after each flush). */
const addsDone = () => builderCounter('feed_fanout_writes_total', 'kind="add",changed="true"');

/**
 * Waits until the builder's metric has counted `adds` more adds than `from` (polled every `everyMs`): a cheap signal
 * that leaves Redis alone while the fan-out runs (polling thousands of feeds would compete with it for Redis's one
 * thread). Other writers' fan-outs count too, so this only says when to start checking the feeds themselves.
 */
async function addsReached(from: number, adds: number, everyMs: number, deadline: number) {
  while ((await addsDone()) - from < adds && performance.now() < deadline) await sleep(everyMs);
}

async function post(token: string, content: string): Promise<{ id: string; answeredAt: number; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${args['write-url']}/v1/status`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ content, visibility: 'PUBLIC' }),
  });
  if (res.status !== 201) throw new Error(`POST /v1/status: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { id: string };
  const answeredAt = performance.now();
  return { id: body.id, answeredAt, ms: answeredAt - t0 };
}

const builderProc = findBuilder();
const threshold = Number(builderProc.env.get('BGC_FEED_PULL_THRESHOLD') ?? 10_000);
const prefix = builderProc.env.get('BGC_FEED_KEY_PREFIX') ?? '';
if (followersWanted >= threshold) {
  throw new Error(
    `${followersWanted} followers is not under the pull threshold ${threshold}: the author would be pulled`,
  );
}
const keys = feedKeyspace(prefix);
const store = new Redis(infra.REDIS_STORE_URL);
const cache = new Redis(infra.REDIS_URL);
const db = new pg.Client({ connectionString: roles.DB_MIGRATOR_URL, application_name: 'bgc-bench' });
await db.connect();
const replica = new pg.Client({ connectionString: roles.DB_READER_URL, application_name: 'bgc-bench' });
await replica.connect();
const stamp = `${Date.now()}`;
const emailLike = `fanout.${stamp}.%@bench.example.com`;
try {
  const setupFrom = await builderCounter('feed_events_total', 'table="relationships"');
  log(`inserting an author and ${followersWanted} active followers (FOLLOW, ACCEPTED) as the migrator`);
  await db.query('BEGIN');
  const users = (
    await db.query<{ id: string }>(
      `INSERT INTO users (email, name, password_hash, last_active_at)
       SELECT 'fanout.' || $1 || '.' || i || '@bench.example.com', 'Fan-out ' || i, 'x', now()
         FROM generate_series(0, $2::int) AS i
       ORDER BY i
       RETURNING id::text`,
      [stamp, followersWanted],
    )
  ).rows.map((r) => r.id);
  const [author = '', ...followers] = users;
  await db.query(
    `INSERT INTO relationships (from_user_id, to_user_id, type, status)
     SELECT f, $1::uuid, 'FOLLOW', 'ACCEPTED' FROM unnest($2::uuid[]) AS f`,
    [author, followers],
  );
  const token = crypto.randomBytes(32).toString('base64url');
  await db.query(
    `INSERT INTO auth_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, now() + interval '1 day')`,
    [crypto.createHash('sha256').update(token).digest(), author],
  );
  await db.query('COMMIT');
  // the builder decides from the replica: a feed asked for before the replica has its owner would be "inactive"
  for (;;) {
    const { rows } = await replica.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM relationships WHERE to_user_id = $1`,
      [author],
    );
    if (rows[0]?.n === followers.length) break;
    await sleep(100);
  }
  // the set-up's own events (users, follows) digested first, while no feed of theirs is kept (cheap: nothing to
  // recompute); asked for earlier, each follow would be recomputed for the feeds being built, and the rebuilds
  // would wait behind those chunks
  const digest0 = performance.now();
  const digestDeadline = performance.now() + Number(args['build-timeout']) * 1000;
  while ((await builderCounter('feed_events_total', 'table="relationships"')) - setupFrom < followers.length) {
    if (performance.now() > digestDeadline) throw new Error('the builder did not see the set-up follows in time');
    await sleep(200);
  }
  const digestSeconds = (performance.now() - digest0) / 1000;
  log(`the builder saw the ${followers.length} follows in ${digestSeconds.toFixed(1)} s`);
  // every feed asked for as the read API asks on a first read: the lease, then the request
  const feeds = [author, ...followers];
  log(`asking the feed builder for ${feeds.length} feeds`);
  const built0 = performance.now();
  const ask = store.pipeline();
  for (const id of feeds) ask.set(keys.building(id), `bench-${Date.now()}`, 'PX', 30_000, 'NX');
  for (const id of feeds) ask.lpush(keys.rebuildRequests(), id);
  await ask.exec();
  let built = 0;
  const buildDeadline = Date.now() + Number(args['build-timeout']) * 1000;
  for (;;) {
    const p = store.pipeline();
    for (const id of feeds) p.hexists(keys.guards(id), '@built');
    built = ((await p.exec()) ?? []).filter(([, v]) => v === 1).length;
    if (built === feeds.length) break;
    if (Date.now() > buildDeadline) throw new Error(`only ${built} of ${feeds.length} feeds built in time`);
    log(`  ${built} built, ${((performance.now() - built0) / 1000).toFixed(0)} s`);
    await sleep(1000);
  }
  const buildSeconds = (performance.now() - built0) / 1000;
  log(`${built} feeds built in ${buildSeconds.toFixed(1)} s`);

  /**
   * When the last feed got `member`: once the builder's metric counts the adds, the feeds not yet holding it are
   * checked (ZSCORE, one pipeline) every 5 ms until none is left (or the timeout).
   */
  const everywhere = async (member: string, addsFrom: number, deadline: number) => {
    await addsReached(addsFrom, feeds.length, 5, deadline);
    let missing = feeds;
    for (;;) {
      const p = store.pipeline();
      for (const id of missing) p.zscore(keys.feed(id), member);
      const replies = (await p.exec()) ?? [];
      const checked = performance.now();
      missing = missing.filter((_, i) => replies[i]?.[1] === null);
      if (missing.length === 0) return { at: checked, missing: 0 };
      if (checked > deadline) return { at: checked, missing: missing.length };
      await sleep(5);
    }
  };

  // 1. latency, one post at a time
  const latencies: number[] = [];
  const postMs: number[] = [];
  let unfinished = 0;
  for (let i = 0; i < postsWanted; i++) {
    const addsFrom = await addsDone();
    const p = await post(token, `fan-out latency ${i}`);
    const done = await everywhere(`${p.id}:${author}`, addsFrom, p.answeredAt + Number(args['fanout-timeout']) * 1000);
    if (done.missing > 0) unfinished += 1;
    latencies.push(done.at - p.answeredAt);
    postMs.push(p.ms);
    log(`  post ${i + 1}: in all ${feeds.length} feeds ${(done.at - p.answeredAt).toFixed(0)} ms after the answer`);
    await sleep(200);
  }

  // 2. sustained: a burst of posts, until every feed holds them all
  const zcards = async () => {
    const p = store.pipeline();
    for (const id of feeds) p.zcard(keys.feed(id));
    return ((await p.exec()) ?? []).map(([, v]) => Number(v));
  };
  const base = await zcards();
  const storePid = Number(/process_id:(\d+)/.exec(await store.info('server'))?.[1]);
  const cachePid = Number(/process_id:(\d+)/.exec(await cache.info('server'))?.[1]);
  const own = [builderProc.pid, storePid, cachePid];
  const ownBefore = own.map(processCpuSeconds);
  const allBefore = cpuSnapshot();
  const addsBefore = await addsDone();
  log(`sustained: ${burst} posts, ${args.concurrency} at a time`);
  const t0 = performance.now();
  let sent = 0;
  const answers: number[] = [];
  await Promise.all(
    Array.from({ length: Number(args.concurrency) }, async () => {
      while (sent < burst) {
        const i = sent++;
        answers.push((await post(token, `fan-out burst ${i}`)).answeredAt);
      }
    }),
  );
  const lastAnswer = Math.max(...answers);
  const deadline = performance.now() + Number(args['fanout-timeout']) * 1000;
  await addsReached(addsBefore, burst * feeds.length, 20, deadline);
  let complete = 0;
  let end = performance.now();
  for (;;) {
    const now = await zcards();
    end = performance.now();
    complete = now.filter((z, i) => z - (base[i] ?? 0) >= burst).length;
    if (complete === feeds.length || end > deadline) break;
    await sleep(50);
  }
  const ownUsed = own.map((pid, i) => processCpuSeconds(pid) - (ownBefore[i] ?? 0));
  const allUsed = cpuBetweenSnapshots(allBefore, cpuSnapshot());
  const addsChanged = (await addsDone()) - addsBefore;
  const inserts = burst * feeds.length;
  const seconds = (end - t0) / 1000;
  const perInsert = (s: number | undefined) => (((s ?? NaN) * 1e6) / inserts).toFixed(2);

  // a popular user joins: every follower (each with a built feed) follows a new author in one statement; each follow
  // recomputes that follower's view of the author (their relation, the posts it lets through) and backfills them
  log(`follows into kept feeds: the ${followers.length} followers follow a new author at once`);
  const [newcomer = ''] = (
    await db.query<{ id: string }>(
      `INSERT INTO users (email, name, password_hash, last_active_at)
       VALUES ('fanout.' || $1 || '.newcomer@bench.example.com', 'Newcomer', 'x', now()) RETURNING id::text`,
      [stamp],
    )
  ).rows.map((r) => r.id);
  await db.query(
    `INSERT INTO status_updates (author_id, content, visibility)
     SELECT $1::uuid, 'newcomer ' || i, 'PUBLIC' FROM generate_series(1, 3) AS i`,
    [newcomer],
  );
  const joinFrom = await builderCounter('feed_events_total', 'table="relationships"');
  // the chunks that read the replica, and how long they waited for it to replay their newest commit
  const replicaWaits = async () => [
    await builderCounter('feed_replica_wait_seconds_count', ''),
    await builderCounter('feed_replica_wait_seconds_sum', ''),
  ];
  const [waitsFrom = 0, waitedFrom = 0] = await replicaWaits();
  const join0 = performance.now();
  await db.query(
    `INSERT INTO relationships (from_user_id, to_user_id, type, status)
     SELECT f, $1::uuid, 'FOLLOW', 'ACCEPTED' FROM unnest($2::uuid[]) AS f`,
    [newcomer, followers],
  );
  const joinDeadline = performance.now() + Number(args['build-timeout']) * 1000;
  while ((await builderCounter('feed_events_total', 'table="relationships"')) - joinFrom < followers.length) {
    if (performance.now() > joinDeadline) throw new Error('the builder did not apply the follows in time');
    await sleep(20);
  }
  const joinSeconds = (performance.now() - join0) / 1000;
  const [waitsTo = 0, waitedTo = 0] = await replicaWaits();
  // the newcomer's posts backfilled: in how many of a sample of the followers' feeds
  const sample = followers.slice(0, 100);
  const backfilled = await Promise.all(
    sample.map(
      async (id) => (await store.zrange(keys.feed(id), '0', '-1')).filter((m) => m.endsWith(`:${newcomer}`)).length,
    ),
  );

  // 4. the ceiling: plain pipelined ZADDs of new members, each key and member drawn from 5,000 values (-r): about
  // 50 per set, nearly all new; the member is padded to a feed entry's 73 bytes
  log('ceiling: redis-benchmark, plain ZADDs into 5,000 sorted sets');
  const CEILING_PREFIX = `bench:fanout-ceiling:${stamp}:`;
  const zaddCount = 250_000;
  const redisBefore = processCpuSeconds(storePid);
  const zaddOut = await runProgram(
    'redis-benchmark',
    [
      ...['-p', new URL(infra.REDIS_STORE_URL).port, '-n', String(zaddCount), '-c', '50', '-P', '32', '-r', '5000'],
      ...['-q', 'ZADD', `${CEILING_PREFIX}__rand_int__`, '__rand_int__', `${'m'.repeat(61)}__rand_int__`],
    ],
    {},
  );
  const zaddRedisUs = ((processCpuSeconds(storePid) - redisBefore) * 1e6) / zaddCount;
  const zaddPerSecond = /([\d.]+) requests per second/.exec(zaddOut)?.[1] ?? zaddOut.trim();
  for (let cursor = '0'; ;) {
    const [next, found] = await store.scan(cursor, 'MATCH', `${CEILING_PREFIX}*`, 'COUNT', 1000);
    if (found.length > 0) await store.unlink(...found);
    cursor = next;
    if (cursor === '0') break;
  }

  const sorted = [...latencies].sort((a, b) => a - b);
  const postSorted = [...postMs].sort((a, b) => a - b);
  process.stdout.write(`
method: the stack as deployed (write API → CDC → Kafka → the stack's feed builder → store Redis; pull threshold
${threshold}, so the author is fanned out). Set-up on the platform database as the migrator: one author and
${followers.length} followers, all active (signed in now), ${followers.length} accepted FOLLOWs; the ${feeds.length} feeds (the followers' and the
author's own) asked for as a first read does (lease + request), once the builder had seen the set-up's follows
(${digestSeconds.toFixed(1)} s after the commit), and built by the builder in ${buildSeconds.toFixed(1)} s (${(feeds.length / buildSeconds).toFixed(0)} rebuilds/s). Latency: ${postsWanted} PUBLIC posts through POST /v1/status one after another; for each, the time
from the write API's answer until the entry is in all ${feeds.length} feeds (the builder's feed_fanout_writes_total polled
every 5 ms until it counts the adds, then ZSCORE on each feed not yet holding it, one pipeline every 5 ms). Sustained: ${burst} posts sent ${args.concurrency} at a time (the write API answered them all ${((lastAnswer - t0) / 1000).toFixed(2)} s after
the first was sent); inserts/s = ${burst} × ${feeds.length} feeds ÷ (first send → every feed holds all ${burst}: the builder's
metric polled every 20 ms until it counts the adds, then ZCARD of each feed every 50 ms until all are complete). CPU from /proc. Everything on this ${os.cpus().length}-core machine with the whole stack up; load average
${(os.loadavg()[0] ?? 0).toFixed(1)} at the end.

${table(
  ['latency: answer → in all feeds', 'value'],
  [
    ['posts', String(latencies.length)],
    ['p50 ms', sorted.length ? percentile(sorted, 50).toFixed(0) : '—'],
    ['p99 ms', sorted.length ? percentile(sorted, 99).toFixed(0) : '—'],
    ['max ms', sorted.length ? (sorted.at(-1) ?? NaN).toFixed(0) : '—'],
    ['posts not everywhere in time', String(unfinished)],
    ['write API answer p50 ms (the POST itself)', postSorted.length ? percentile(postSorted, 50).toFixed(1) : '—'],
  ],
)}

${table(
  ['sustained fan-out', 'value'],
  [
    ['posts × feeds (inserts)', `${burst} × ${feeds.length} = ${inserts}`],
    ['first send → all in every feed (s)', seconds.toFixed(2)],
    ['feed inserts/s', (inserts / seconds).toFixed(0)],
    ['feeds holding every post at the end', `${complete} of ${feeds.length}`],
    ['builder feed adds that changed a feed (metric)', String(addsChanged)],
    ['feed builder CPU µs/insert', perInsert(ownUsed[0])],
    ['store Redis CPU µs/insert', perInsert(ownUsed[1])],
    ['cache Redis CPU µs/insert', perInsert(ownUsed[2])],
  ],
)}

CPU per 1,000 inserts (ms, i.e. µs per insert), every process, from /proc: ${perUnit(allUsed, inserts / 1000)}

${table(
  ['ceiling, same run: redis-benchmark on the store Redis', 'value'],
  [
    ['plain ZADD of a new 73-byte member into 5,000 sets, 50 clients, pipelines of 32: /s', String(zaddPerSecond)],
    ['store Redis CPU µs per plain ZADD', zaddRedisUs.toFixed(2)],
    ['store Redis CPU µs per fan-out insert (above)', perInsert(ownUsed[1])],
  ],
)}

${table(
  ['follows into kept feeds (a new author with 3 posts, followed by everyone in one statement)', 'value'],
  [
    ['follows', String(followers.length)],
    ['commit → the builder applied them all (s)', joinSeconds.toFixed(2)],
    ['follows/s', (followers.length / joinSeconds).toFixed(0)],
    ['chunks that read the replica meanwhile (builder metric)', String(waitsTo - waitsFrom)],
    ['their wait for the replica to replay their commit (s)', (waitedTo - waitedFrom).toFixed(2)],
    ['feeds of a sample of 100 followers holding all 3 posts', String(backfilled.filter((n) => n === 3).length)],
  ],
)}
`);
} finally {
  // the bench's feeds and people go: feeds first (the deletes' fan-out then finds none to touch); a set-up that
  // failed midway left its transaction open
  await db.query('ROLLBACK');
  const { rows } = await db.query<{ id: string }>(`SELECT id::text FROM users WHERE email LIKE $1`, [emailLike]);
  for (let i = 0; i < rows.length; i += 1000) {
    const ids = rows.slice(i, i + 1000).map((r) => r.id);
    await store.unlink(...ids.flatMap((id) => [keys.feed(id), keys.guards(id), keys.pulls(id), keys.inactive(id)]));
  }
  await db.query(`DELETE FROM users WHERE email LIKE $1`, [emailLike]);
  await db.end();
  await replica.end();
  store.disconnect();
  cache.disconnect();
}
