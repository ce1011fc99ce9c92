/**
 * Home feed page reads through the read API (`GET /v1/feed`, issue 6): an open-loop load at fixed rates (vegeta:
 * requests leave on schedule whatever the answers' latency, so queueing shows), round-robin over the feeds of many
 * readers of a generated database, each with a bearer token of their own. Beside it, in the same run: the same
 * rates against a bare node:http server (the machine's HTTP floor) and redis-benchmark for the Redis commands a page
 * costs (the feed's ZRANGE … BYSCORE REV LIMIT on a sorted set of the same size, a status body's HGETALL).
 *
 *   node bench/feed-read.ts [--db bench_full] [--users 1000] [--rates 1000,3000] [--duration 15] [--warmup 10]
 *                           [--warmup-rate 300] [--limit 20] [--sample-ratio 0.01] [--cpu-prof DIR]
 *
 * --cpu-prof DIR: the read API runs under node --cpu-prof (its profile lands in DIR when it stops).
 *
 * The feeds are built the way production builds them: a read API and a feed builder of the bench's own run on the
 * database's replica (key prefix `bench:feed:` on both Redis servers, topics `benchfeed.public.*` that stay empty,
 * so this builder only does the lazy rebuilds); each reader's first read finds no feed, takes the rebuild's lease,
 * is answered from the database (`partial: true`) and the builder builds the feed from the replica. The bench waits
 * until every reader's feed is built, then warms up (bodies, profiles and tokens fill the cache and the read API's
 * L1 the way they would under traffic), then measures each rate. Readers: a random sample of the users active in the
 * last 29 days (the builder keeps feeds for active users only). No author is pulled (the builder registers a
 * high-follower author when they post, and nobody posts during the run), so every page is the precomputed feed
 * alone, without the read-time merge.
 *
 * Needs the stack (./bgc start), a generated database (node bench/generate.ts --db bench_full --scale full) and
 * vegeta (built once with Go from the module proxy into ~/.cache/bgc-replica/gobin if missing).
 */
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { databaseEnv, withDatabase } from '@bgc/config/database';
import { loadEnv } from '@bgc/config/env';
import { infraEnv } from '@bgc/config/infra';
import { feedKeyspace, statusBodyKey } from '@bgc/cache/feed-keys';
import { startServiceProcess } from '@bgc/testkit/service-process';
import { bareHttpCeiling } from './src/http-ceiling.ts';
import { cpuBetweenSnapshots, cpuSnapshot, perUnit, processCpuSeconds } from './src/process-cpu.ts';
import { percentile, runProgram, table } from './src/stats.ts';
import type { VegetaReport } from './src/vegeta.ts';
import { attack, reportCells, vegetaBinary, writeTargets } from './src/vegeta.ts';
import type { ReadApiCounters } from './src/read-api-metrics.ts';
import { readApiCounters } from './src/read-api-metrics.ts';
import { benchArgs } from './src/cli-args.ts';

const { values: args } = benchArgs({
  options: {
    db: { type: 'string', default: 'bench_full' },
    users: { type: 'string', default: '1000' },
    rates: { type: 'string', default: '1000,3000' },
    duration: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '10' },
    'warmup-rate': { type: 'string', default: '300' },
    'cpu-prof': { type: 'string' },
    limit: { type: 'string', default: '20' },
    'sample-ratio': { type: 'string', default: '0.01' },
    'build-timeout': { type: 'string', default: '120' },
  },
});
const log = (s: string) => process.stderr.write(`${s}\n`);
const infra = loadEnv(infraEnv);
const roles = loadEnv(databaseEnv);
const API_PORT = 23390;
const BUILDER_PORT = 23491;
const PREFIX = 'bench:feed:';
const TOPIC_PREFIX = 'benchfeed';
const TOPICS = ['status_updates', 'relationships', 'users'].map((t) => `${TOPIC_PREFIX}.public.${t}`);
const keys = feedKeyspace(PREFIX);
const here = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The same role and database on the primary (the read API's fallback past the replica's lag). */
const onPrimary = (url: string) => {
  const u = new URL(url);
  u.port = new URL(infra.PG_URL).port;
  return u.toString();
};
const redisPort = (url: string) => new URL(url).port;

/**
 * The bench's builder's rebuilds: how many, the mean seconds each took (its feed_rebuild_seconds), and how many it
 * built together on average (feed_rebuild_group_size).
 */
async function rebuildStats() {
  const text = await (await fetch(`http://127.0.0.1:${BUILDER_PORT}/metrics`)).text();
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  const count = value(/^feed_rebuild_seconds_count\{[^}]*\} (\S+)$/m);
  const groups = value(/^feed_rebuild_group_size_count\{[^}]*\} (\S+)$/m);
  return {
    count,
    meanMs: (1000 * value(/^feed_rebuild_seconds_sum\{[^}]*\} (\S+)$/m)) / count,
    meanGroup: value(/^feed_rebuild_group_size_sum\{[^}]*\} (\S+)$/m) / groups,
  };
}

const counters = () => readApiCounters(API_PORT);

/** Feed pages by where they came from in a phase: Redis (hit), the database while building (miss), not kept (bypass). */
function feedSources(before: ReadApiCounters, after: ReadApiCounters) {
  const d = (o: string) => (after.lookups.get(`feed/${o}`) ?? 0) - (before.lookups.get(`feed/${o}`) ?? 0);
  return { redis: d('hit'), database: d('miss'), bypass: d('bypass') };
}

/**
 * Where a phase's authors' profiles and status bodies came from (L1, Redis, or filled from the database), and the
 * database reads per 1,000 pages: a page should read none once warm.
 */
function lookupLine(before: ReadApiCounters, after: ReadApiCounters, pages: number): string {
  const d = (key: string) => (after.lookups.get(key) ?? 0) - (before.lookups.get(key) ?? 0);
  const pct = (x: number, of: number) => `${((100 * x) / Math.max(1, of)).toFixed(1)}%`;
  const shares = (keyspace: string) => {
    const [l1, hit, miss] = ['l1_hit', 'hit', 'miss'].map((o) => d(`${keyspace}/${o}`));
    const total = (l1 ?? 0) + (hit ?? 0) + (miss ?? 0);
    return `L1 ${pct(l1 ?? 0, total)} / Redis ${pct(hit ?? 0, total)} / filled ${pct(miss ?? 0, total)}`;
  };
  const reads = ((after.databaseReads - before.databaseReads) * 1000) / Math.max(1, pages);
  return `profiles ${shares('profile')}; bodies ${shares('status')}; database reads ${reads.toFixed(1)} per 1,000 pages`;
}

/** The store Redis's feed keys under the bench's prefix, gone (a run starts with no feeds, as after a rebuild --all). */
async function dropFeeds(store: Redis) {
  let cursor = '0';
  let n = 0;
  do {
    const [next, found] = await store.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) n += await store.unlink(...found);
  } while (cursor !== '0');
  return n;
}

const admin = new pg.Client({ connectionString: withDatabase(infra.PG_URL, args.db) });
await admin.connect();
const n = Number(args.users);
log(`choosing ${n} readers among the users of ${args.db} active in the last 29 days`);
const readers = (
  await admin.query<{ id: string }>(
    `SELECT id::text FROM users TABLESAMPLE SYSTEM (5)
      WHERE is_active AND greatest(last_active_at, created_at) >= now() - interval '29 days'
      ORDER BY random() LIMIT $1`,
    [n],
  )
).rows.map((r) => r.id);
if (readers.length < n) throw new Error(`only ${readers.length} active users sampled in ${args.db}`);
// one token per reader, as each client would hold its own (the read API checks and caches them per token)
const tokens = readers.map(() => crypto.randomBytes(32).toString('base64url'));
await admin.query(
  `INSERT INTO auth_tokens (token_hash, user_id, expires_at)
   SELECT decode(h, 'hex'), u, now() + interval '1 day' FROM unnest($1::text[], $2::uuid[]) AS t(h, u)`,
  [tokens.map((t) => crypto.createHash('sha256').update(t).digest('hex')), readers],
);
const relations = await admin.query<{ n: string }>(
  `SELECT count(*)::text AS n FROM relationships WHERE from_user_id = ANY($1::uuid[]) OR to_user_id = ANY($1::uuid[])`,
  [readers],
);
await admin.end();

const store = new Redis(infra.REDIS_STORE_URL);
const cache = new Redis(infra.REDIS_URL);
const dropped = await dropFeeds(store);
if (dropped > 0) log(`dropped ${dropped} keys left under ${PREFIX} by an earlier run`);
const kafka = new Kafka({ clientId: 'bgc-bench-feed-read', brokers: infra.KAFKA_BROKERS, logLevel: logLevel.WARN });
const kafkaAdmin = kafka.admin();
await kafkaAdmin.connect();
// the bench's builder consumes topics of its own that nobody writes: it only rebuilds feeds
await kafkaAdmin.createTopics({ topics: TOPICS.map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true });
const bin = vegetaBinary(log);
const readerUrl = withDatabase(roles.DB_READER_URL, args.db);
const builder = await startServiceProcess({
  name: 'feed-builder',
  entry: path.resolve(here, '../services/feed-builder/src/main.ts'),
  env: {
    BGC_DB_READER_URL: readerUrl,
    BGC_FEED_TOPIC_PREFIX: TOPIC_PREFIX,
    BGC_FEED_GROUP: 'bench-feed-read',
    BGC_FEED_KEY_PREFIX: PREFIX,
    BGC_FEED_METRICS_PORT: String(BUILDER_PORT),
    BGC_TRACE_SAMPLE_RATIO: args['sample-ratio'],
    BGC_LOG_LEVEL: 'info',
  },
  ready: (line) => line.includes('"consuming"'),
  timeoutMs: 60_000,
});
const api = await startServiceProcess({
  name: 'read-api',
  entry: path.resolve(here, '../services/read-api/src/main.ts'),
  env: {
    BGC_DB_READER_URL: readerUrl,
    BGC_DB_READER_PRIMARY_URL: onPrimary(readerUrl),
    BGC_READ_API_PORT: String(API_PORT),
    BGC_READ_API_KEY_PREFIX: PREFIX,
    BGC_TRACE_SAMPLE_RATIO: args['sample-ratio'],
    BGC_LOG_LEVEL: 'info',
    ...(args['cpu-prof'] ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${path.resolve(args['cpu-prof'])}` } : {}),
  },
  ready: (line) => line.includes('"url":"'),
  timeoutMs: 30_000,
});
try {
  const feedUrl = `http://127.0.0.1:${API_PORT}/v1/feed?limit=${args.limit}`;
  // 1. every reader's first read: no feed yet, so the lease, a rebuild request, and a page from the database
  log(`first reads of ${n} feeds (each asks the builder for its feed)`);
  const built0 = performance.now();
  const first = { partial: 0, redis: 0, database: 0, failed: 0 };
  const firstMs: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < n) {
        const i = next++;
        const t0 = performance.now();
        const res = await fetch(feedUrl, { headers: { authorization: `Bearer ${tokens[i]}` } });
        firstMs.push(performance.now() - t0);
        if (!res.ok) {
          first.failed += 1;
          await res.text();
          continue;
        }
        const body = (await res.json()) as { partial: boolean; source: string };
        if (body.partial) first.partial += 1;
        if (body.source === 'redis') first.redis += 1;
        else first.database += 1;
      }
    }),
  );
  const firstReadsSeconds = (performance.now() - built0) / 1000;
  // 2. until every feed is built (or the reader found inactive: the builder keeps no feed for them)
  let built = 0;
  let inactive = 0;
  const deadline = Date.now() + Number(args['build-timeout']) * 1000;
  for (;;) {
    const p = store.pipeline();
    for (const id of readers) p.hexists(keys.guards(id), '@built').exists(keys.inactive(id));
    const replies = (await p.exec()) ?? [];
    built = 0;
    inactive = 0;
    for (let i = 0; i < readers.length; i++) {
      if (replies[2 * i]?.[1] === 1) built += 1;
      else if (replies[2 * i + 1]?.[1] === 1) inactive += 1;
    }
    if (built + inactive >= readers.length || Date.now() > deadline) break;
    log(`  ${built} built, ${inactive} inactive, ${((performance.now() - built0) / 1000).toFixed(0)} s`);
    await sleep(1000);
  }
  const buildSeconds = (performance.now() - built0) / 1000;
  const sizesP = store.pipeline();
  for (const id of readers) sizesP.zcard(keys.feed(id));
  const byReader = ((await sizesP.exec()) ?? []).map(([, v]) => Number(v));
  const sizes = [...byReader].sort((a, b) => a - b);
  const rebuilds = await rebuildStats();
  log(
    `${built} feeds built, ${inactive} inactive, in ${buildSeconds.toFixed(1)} s; sizes p50 ${percentile(sizes, 50)}`,
  );

  const targets = path.join(os.tmpdir(), 'bgc-feed-read-targets.jsonl');
  writeTargets(
    targets,
    tokens.map((t) => ({ method: 'GET', url: feedUrl, header: { Authorization: [`Bearer ${t}`] } })),
  );
  // 3. warm-up: bodies, profiles, tokens into the cache and the read API's L1, vegeta's connections opened
  log(`warm-up: ${args['warmup-rate']}/s for ${args.warmup} s`);
  const warm = await attack(bin, targets, Number(args['warmup-rate']), Number(args.warmup));
  const rates = args.rates.split(',').map(Number);
  const storePid = Number(/process_id:(\d+)/.exec(await store.info('server'))?.[1]);
  const cachePid = Number(/process_id:(\d+)/.exec(await cache.info('server'))?.[1]);
  const rows: {
    label: string;
    report: VegetaReport;
    sources?: ReturnType<typeof feedSources>;
    cpu: string[];
    core?: string;
  }[] = [{ label: `warm-up ${args['warmup-rate']}`, report: warm, cpu: [] }];
  const cpuLines: string[] = [];
  const lookupLines: string[] = [];
  let before = await counters();
  for (const rate of rates) {
    log(`measuring: ${rate}/s for ${args.duration} s`);
    const own = [api.pid, storePid, cachePid].map(processCpuSeconds);
    const all = cpuSnapshot();
    const report = await attack(bin, targets, rate, Number(args.duration));
    const used = cpuBetweenSnapshots(all, cpuSnapshot());
    const ownUsed = [api.pid, storePid, cachePid].map((pid, i) => processCpuSeconds(pid) - (own[i] ?? 0));
    const after = await counters();
    const perRead = (s: number | undefined) => (((s ?? NaN) * 1e6) / Math.max(1, report.requests)).toFixed(0);
    rows.push({
      label: String(rate),
      report,
      sources: feedSources(before, after),
      cpu: ownUsed.map(perRead),
      core: `${(((ownUsed[0] ?? NaN) / Number(args.duration)) * 100).toFixed(0)}%`,
    });
    cpuLines.push(`- ${rate}/s: ${perUnit(used, report.requests / 1000)}`);
    lookupLines.push(`- ${rate}/s: ${lookupLine(before, after, report.requests)}`);
    before = after;
  }
  const bodyBytes = Math.round(rows[1]?.report.bytes_in?.mean ?? 2000) || 2000;
  for (const rate of rates) {
    log(`ceiling: a bare node:http server, ${rate}/s for ${args.duration} s`);
    const report = await bareHttpCeiling(bin, rate, Number(args.duration), bodyBytes);
    rows.push({ label: `bare node:http ${rate}`, report, cpu: [] });
  }
  // redis-benchmark on a feed of the median size, with the page's own command, and a body's HGETALL on the cache
  const median = percentile(sizes, 50);
  const medianReader = readers[byReader.indexOf(median)] ?? readers[0] ?? '';
  const want = String(Number(args.limit) + 1);
  const rb = async (port: string, argv: string[]) => {
    const out = await runProgram('redis-benchmark', ['-p', port, '-n', '200000', '-c', '50', '-q', ...argv], {});
    return /([\d.]+) requests per second/.exec(out)?.[1] ?? out.trim();
  };
  log('ceiling: redis-benchmark, the page commands, 50 clients');
  const feedKey = keys.feed(medianReader);
  const zrange = await rb(redisPort(infra.REDIS_STORE_URL), [
    ...['ZRANGE', feedKey, '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', '0', want, 'WITHSCORES'],
  ]);
  const hexists = await rb(redisPort(infra.REDIS_STORE_URL), ['HEXISTS', keys.guards(medianReader), '@built']);
  const [firstMember] = await store.zrange(feedKey, '-1', '-1');
  const bodyKey = statusBodyKey(PREFIX, (firstMember ?? '').split(':')[0] ?? '');
  const hgetall = await rb(redisPort(infra.REDIS_URL), ['HGETALL', bodyKey]);
  const hgetallP = await rb(redisPort(infra.REDIS_URL), ['-P', want, 'HGETALL', bodyKey]);

  const pct = (x: number, of: number) => `${((100 * x) / Math.max(1, of)).toFixed(1)}%`;
  const firstSorted = [...firstMs].sort((a, b) => a - b);
  process.stdout.write(`
method: ${n} readers, a random sample of the users of ${args.db} active in the last 29 days (${relations.rows[0]?.n}
relationships touch them), each with a bearer token of their own. A read API and a feed builder of the bench's own on
${args.db}'s replica (key prefix ${PREFIX}); every feed built by the builder's lazy rebuild after its owner's first
read (${firstReadsSeconds.toFixed(1)} s for the ${n} first reads, 8 at a time: ${first.partial} answered partial, ${first.database} from
the database, ${first.redis} from Redis, ${first.failed} failed; p50 ${firstSorted.length ? percentile(firstSorted, 50).toFixed(1) : '—'} ms, p99
${firstSorted.length ? percentile(firstSorted, 99).toFixed(1) : '—'} ms); ${built} feeds built and ${inactive} readers found inactive ${buildSeconds.toFixed(1)} s after the first
read (${(built / buildSeconds).toFixed(0)} rebuilds/s with the first reads; the builder's feed_rebuild_seconds: ${rebuilds.count} rebuilds,
${rebuilds.meanMs.toFixed(1)} ms each on average, ${rebuilds.meanGroup.toFixed(1)} built together on average), feed sizes p50 ${percentile(sizes, 50)}, p90
${percentile(sizes, 90)}, max ${sizes.at(-1)} entries (cap 800). Load: vegeta open loop at fixed rates, GET /v1/feed?limit=${args.limit},
the ${n} readers in turn (keep-alive, ≤ 256 connections, 5 s timeout), warm-up ${args.warmup} s at ${args['warmup-rate']}/s then
${args.duration} s per rate; latency from vegeta (client side, from each request's scheduled start). Pages by source from the
read API's cache_lookups_total{keyspace="feed"}: hit = the precomputed feed in Redis, miss = the database while the
feed is being built (partial) or past the feed's end, bypass = not kept (inactive). CPU from /proc. Everything on
this ${os.cpus().length}-core machine with the whole stack up; load average ${(os.loadavg()[0] ?? 0).toFixed(1)} at the end.

${table(
  [
    'offered/s',
    'achieved/s',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'max ms',
    'success',
    'pages: Redis / database / bypass',
    'CPU µs/read: read API / store / cache',
    'read API CPU (of a core)',
  ],
  rows.map((r) => [
    r.label,
    ...reportCells(r.report),
    r.sources
      ? (() => {
          const total = r.sources.redis + r.sources.database + r.sources.bypass;
          return `${pct(r.sources.redis, total)} / ${pct(r.sources.database, total)} / ${pct(r.sources.bypass, total)}`;
        })()
      : '—',
    r.cpu.length > 0 ? r.cpu.join(' / ') : '—',
    r.core ?? '—',
  ]),
)}

status codes: ${rows.map((r) => `${r.label}/s ${JSON.stringify(r.report.status_codes)}`).join('; ')} (0: no answer within 5 s)
CPU µs/read counts every request sent in the phase, answered or not. CPU per 1,000 reads (ms, i.e. µs per read), by
process, from /proc (vegeta not counted; processes that ended during the phase not counted):
${cpuLines.join('\n')}
Lookups in each phase, from the read API's cache_lookups_total and read_api_db_reads_total:
${lookupLines.join('\n')}
"bare node:http" rows: the same rates against a node:http server answering a fixed body of the feed page's mean size
(${bodyBytes} bytes, bench/src/http-ceiling.ts): the floor any Node HTTP service meets on this machine.

${table(
  ['redis-benchmark, same run, 50 clients', 'requests/s'],
  [
    [`store: ZRANGE feed +inf -inf BYSCORE REV LIMIT 0 ${want} WITHSCORES (a feed of ${median})`, zrange],
    ['store: HEXISTS guards @built', hexists],
    ['cache: HGETALL of a status body', hgetall],
    [`cache: HGETALL of a status body, pipelines of ${want}`, hgetallP],
  ],
)}

A page costs on Redis: one script call on the store (\`readFeedPage\`: HEXISTS @built, ZRANGE of the page, HEXISTS
@trimmed, HGETALL of the pulled authors; EXISTS inactive instead when not built), the pulled authors' lists in two
pipelines when there are any, then an HGETALL per body of the page in the cache (one pipeline on a single server) and
the authors' profiles (L1 or the cache).
`);
} finally {
  await api[Symbol.asyncDispose]();
  await builder[Symbol.asyncDispose]();
  await kafkaAdmin.deleteTopics({ topics: TOPICS }).catch((err: unknown) => log(`topics left: ${String(err)}`));
  await kafkaAdmin.disconnect();
  await dropFeeds(store);
  store.disconnect();
  cache.disconnect();
}
