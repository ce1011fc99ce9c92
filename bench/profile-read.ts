/**
 * Profile reads through the read API, as clients would make them: an open-loop load at a fixed rate (vegeta, Go:
 * requests leave on schedule whatever the answers' latency, so a slow answer cannot hide the ones queued behind it),
 * profiles drawn Zipf(s) over every user of a generated database (the hottest users read most, a long tail read
 * rarely). A read API of its own reads that database's replica and a key prefix of its own in the cache Redis.
 * Beside it, in the same run: Redis's own ceiling for the same read (redis-benchmark HGETALL of a profile document).
 *
 *   node bench/profile-read.ts [--db bench_full] [--rates 1000,2000,3000,5000] [--duration 30] [--warmup 30] [--zipf 1.0]
 *                              [--maxmemory 1gb] [--sample-ratio 0.01]
 *
 * Steady state, as in production: the profile documents of the users the run will read (user, profile and counts)
 * are first written to Redis the way the cache projector keeps them (`projectEvent` + the guarded scripts, from the
 * rows); the read API's own entries (blocks, for the 1% of users who block anyone) and its L1 fill during the
 * warm-up. Then each rate is measured in turn.
 * Needs the stack (./bgc start), a generated database (node bench/generate.ts --db bench_full --scale full), and
 * vegeta (built once with Go from the module proxy into ~/.cache/bgc-replica/gobin if missing).
 * The cache Redis's maxmemory is set to --maxmemory for the run (the hot set of 1M profiles needs more than the
 * default 256mb to reach a 95% hit ratio) and put back afterwards.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { databaseEnv, withDatabase } from '@bgc/config/database';
import { loadEnv } from '@bgc/config/env';
import { infraEnv } from '@bgc/config/infra';
import { keyspace } from '@bgc/cache/keys';
import { projectEvent } from '@bgc/cache/projections';
import { queueWrite } from '@bgc/cache/queue-write';
import { registerScripts, writeBatch } from '@bgc/cache/scripts';
import type { ChangeEvent, Row } from '@bgc/events/envelope';
import { changeEventTypes } from '@bgc/events/pg-values';
import { startServiceProcess } from '@bgc/testkit/service-process';
import { bareHttpCeiling } from './src/http-ceiling.ts';
import { processCpuSeconds } from './src/process-cpu.ts';
import { runProgram, table } from './src/stats.ts';
import type { VegetaReport } from './src/vegeta.ts';
import { attack, reportCells, vegetaBinary, writeTargets } from './src/vegeta.ts';
import type { ReadApiCounters } from './src/read-api-metrics.ts';
import { readApiCounters } from './src/read-api-metrics.ts';
import { benchArgs } from './src/cli-args.ts';

const { values: args } = benchArgs({
  options: {
    db: { type: 'string', default: 'bench_full' },
    rates: { type: 'string', default: '1000,2000,3000,5000' },
    duration: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '30' },
    'warmup-rate': { type: 'string', default: '400' },
    zipf: { type: 'string', default: '1.0' },
    maxmemory: { type: 'string', default: '1gb' },
    'sample-ratio': { type: 'string', default: '0.01' },
    targets: { type: 'string', default: '400000' },
    instances: { type: 'string', default: '1' },
  },
});
const log = (s: string) => process.stderr.write(`${s}\n`);
const infra = loadEnv(infraEnv);
const roles = loadEnv(databaseEnv);
const PORT = 23390;
const INSTANCES = Number(args.instances);
const KEY_PREFIX = 'bench:profiles:';
/** The same role and database on the primary (the read API's fallback past the replica's lag). */
const onPrimary = (url: string) => {
  const u = new URL(url);
  u.port = new URL(infra.PG_URL).port;
  return u.toString();
};
/** n draws of ranks 0..size-1 with P(rank k) ∝ 1/(k+1)^s, by inverting the cumulative weights. */
function zipfRanks(size: number, s: number, n: number): Uint32Array {
  const cdf = new Float64Array(size);
  let total = 0;
  for (let k = 0; k < size; k++) cdf[k] = total += 1 / Math.pow(k + 1, s);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.random() * total;
    let lo = 0;
    let hi = size - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cdf[mid] ?? 0) < u) lo = mid + 1;
      else hi = mid;
    }
    out[i] = lo;
  }
  return out;
}

/** Writes the documents of these users as the projector would from their rows' change events. */
async function prefill(db: pg.Client, redis: Redis, users: string[]) {
  const client = registerScripts(redis);
  const keys = keyspace(KEY_PREFIX);
  const settings = { documentTtlMs: 24 * 3600_000, tombstoneTtlMs: 600_000, recentMessages: 100 };
  await db.query(`SET TimeZone = 'UTC'`);
  for (let i = 0; i < users.length; i += 2000) {
    const batch = writeBatch(client);
    const ids = users.slice(i, i + 2000);
    for (const [table, column] of [
      ['users', 'id'],
      ['profiles', 'user_id'],
      ['user_counts', 'user_id'],
    ] as const) {
      const { rows } = await db.query<Row>({
        text: `SELECT * FROM ${table} WHERE ${column} = ANY($1::uuid[])`,
        values: [ids],
        types: changeEventTypes,
      });
      for (const row of rows) {
        delete row.password_hash;
        const event = {
          op: 'r',
          before: null,
          after: row,
          source: { sequence: '["0","0"]' },
        } as unknown as ChangeEvent;
        for (const w of projectEvent(table, event, keys)) queueWrite(batch, w, settings);
      }
    }
    for (const [err] of await batch.exec()) if (err) throw err;
  }
}

/** The counters of every instance, summed. */
async function counters(): Promise<ReadApiCounters> {
  const each = await Promise.all(Array.from({ length: INSTANCES }, (_, i) => readApiCounters(PORT + i)));
  const lookups = new Map<string, number>();
  for (const c of each) for (const [k, v] of c.lookups) lookups.set(k, (lookups.get(k) ?? 0) + v);
  return { lookups, databaseReads: each.reduce((n, c) => n + c.databaseReads, 0) };
}

function hitRatio(before: Map<string, number>, after: Map<string, number>, keyspace: string) {
  const d = (o: string) => (after.get(`${keyspace}/${o}`) ?? 0) - (before.get(`${keyspace}/${o}`) ?? 0);
  const hits = d('l1_hit') + d('hit') + d('negative_hit');
  const total = hits + d('miss');
  return { hits, total, l1: d('l1_hit'), redis: d('hit'), miss: d('miss') };
}

// the database: every user id, and a token for the reader
const admin = new pg.Client({ connectionString: withDatabase(infra.PG_URL, args.db) });
await admin.connect();
log(`reading user ids of ${args.db}`);
const ids = (await admin.query<{ id: string }>('SELECT id::text FROM users')).rows.map((r) => r.id);
// the reader must be active: a deactivated user's token is refused
const [reader] = (await admin.query<{ id: string }>('SELECT id::text FROM users WHERE is_active LIMIT 1')).rows;
if (!reader) throw new Error(`no active user in ${args.db}: generate it again (bench/generate.ts)`);
const token = crypto.randomBytes(32).toString('base64url');
await admin.query(
  `INSERT INTO auth_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, now() + interval '1 day')`,
  [crypto.createHash('sha256').update(token).digest(), reader.id],
);
// hot users are not the first ids: ranks map to a random permutation of the users
for (let i = ids.length - 1; i > 0; i--) {
  const j = Math.floor(Math.random() * (i + 1));
  [ids[i], ids[j]] = [ids[j] ?? '', ids[i] ?? ''];
}
const draws = zipfRanks(ids.length, Number(args.zipf), Number(args.targets));
const targets = path.join(os.tmpdir(), 'bgc-profile-read-targets.jsonl');
const header = { Authorization: [`Bearer ${token}`] };
writeTargets(
  targets,
  // with several instances the draws take them in turn, as a load balancer would spread them
  Array.from(draws, (r, i) => ({
    method: 'GET',
    url: `http://127.0.0.1:${PORT + (i % INSTANCES)}/v1/users/${ids[r]}`,
    header,
  })),
);
const distinct = new Set(draws).size;
log(`${draws.length} Zipf(${args.zipf}) draws over ${ids.length} users: ${distinct} distinct`);

const redis = new Redis(infra.REDIS_URL);
const [, previousMaxmemory] = (await redis.config('GET', 'maxmemory')) as [string, string];
await redis.config('SET', 'maxmemory', args.maxmemory);
const readUsers = [...new Set(Array.from(draws, (r) => ids[r] ?? ''))];
log(`writing the ${readUsers.length} profile documents the run reads, as the projector keeps them`);
const filled = Date.now();
await prefill(admin, redis, readUsers);
await admin.end();
log(`  done in ${((Date.now() - filled) / 1000).toFixed(1)} s`);
const bin = vegetaBinary(log);
const startApi = (port: number) =>
  startServiceProcess({
    name: 'read-api',
    entry: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../services/read-api/src/main.ts'),
    env: {
      BGC_DB_READER_URL: withDatabase(roles.DB_READER_URL, args.db),
      BGC_DB_READER_PRIMARY_URL: onPrimary(withDatabase(roles.DB_READER_URL, args.db)),
      BGC_READ_API_PORT: String(port),
      BGC_READ_API_KEY_PREFIX: KEY_PREFIX,
      BGC_TRACE_SAMPLE_RATIO: args['sample-ratio'],
      BGC_LOG_LEVEL: 'info',
    },
    ready: (line) => line.includes('"url":"'),
    timeoutMs: 30_000,
  }).catch((err: unknown) => {
    throw new Error(`the read API did not start: ${(err as Error).message}`);
  });
const apis = await Promise.all(Array.from({ length: INSTANCES }, (_, i) => startApi(PORT + i)));
const apiCpuSeconds = () => apis.reduce((s, api) => s + processCpuSeconds(api.pid), 0);
try {
  const rates = args.rates.split(',').map(Number);
  // gently: a cold read API fills its L1, and the blocks of users who block anyone from the database (leases, fills)
  log(`warm-up: ${args['warmup-rate']}/s for ${args.warmup} s`);
  const warm = await attack(bin, targets, Number(args['warmup-rate']), Number(args.warmup));
  const rows: {
    label: string;
    report: VegetaReport;
    profile: ReturnType<typeof hitRatio> | undefined;
    cpu: number;
    dbReads: number;
  }[] = [];
  let before = await counters();
  for (const rate of rates) {
    const cpu0 = apiCpuSeconds();
    log(`measuring: ${rate}/s for ${args.duration} s`);
    const report = await attack(bin, targets, rate, Number(args.duration));
    const cpu = apiCpuSeconds() - cpu0;
    const after = await counters();
    const profile = hitRatio(before.lookups, after.lookups, 'profile');
    rows.push({ label: String(rate), report, profile, cpu, dbReads: after.databaseReads - before.databaseReads });
    before = after;
  }
  // the same rates against a bare node:http server answering a body of the API's size: the machine's HTTP floor
  const bodyBytes = Math.round((rows[0]?.report.bytes_in?.mean ?? 600) || 600);
  for (const rate of rates) {
    log(`ceiling: a bare node:http server, ${rate}/s for ${args.duration} s`);
    const report = await bareHttpCeiling(bin, rate, Number(args.duration), bodyBytes);
    rows.push({ label: `bare node:http ${rate}`, report, profile: undefined, cpu: NaN, dbReads: NaN });
  }
  const ceilingKey = (await redis.keys(`${KEY_PREFIX}*:profile`).then((k) => k[0])) ?? '';
  log('ceiling: redis-benchmark HGETALL of a profile document, 50 clients');
  const bench = await runProgram(
    'redis-benchmark',
    ['-p', new URL(infra.REDIS_URL).port, '-n', '200000', '-c', '50', '-q', 'HGETALL', ceilingKey],
    process.env,
  );
  const ceiling = /([\d.]+) requests per second/.exec(bench)?.[1] ?? bench.trim();
  const pct = (x: number, of: number) => `${((100 * x) / Math.max(1, of)).toFixed(1)}%`;
  process.stdout.write(`
method: vegeta open loop at fixed rates (GET /v1/users/:id, bearer token, keep-alive, ≤ 256 connections), ids
Zipf(${args.zipf}) over the ${ids.length} users of ${args.db} (${draws.length} draws, ${distinct} distinct, in a random
order of users); their profile documents first written to Redis as the projector keeps them; warm-up ${args.warmup} s
at ${args['warmup-rate']}/s, then ${args.duration} s per rate; ${INSTANCES} read API process(es), taking the requests in turn (trace sampling ${args['sample-ratio']}), cache
Redis maxmemory ${args.maxmemory}; latency from vegeta (client side, from each request's scheduled start); hits from
the read API's cache_lookups_total{keyspace="profile"} per phase, database reads from its read_api_db_reads_total;
CPU of the read API process from /proc, per request over the requests vegeta sent; everything
on this ${os.cpus().length}-core machine.

${table(
  [
    'offered/s',
    'achieved/s',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'max ms',
    'success',
    'profile hits (L1 / Redis)',
    'requests that read the DB',
    'read API CPU',
    'CPU ms/request',
  ],
  [{ label: `warm-up ${args['warmup-rate']}`, report: warm, profile: undefined, cpu: NaN, dbReads: NaN }, ...rows].map(
    (r) => [
      r.label,
      ...reportCells(r.report),
      r.profile
        ? `${pct(r.profile.hits, r.profile.total)} (${pct(r.profile.l1, r.profile.total)} / ${pct(r.profile.redis, r.profile.total)})`
        : '—',
      Number.isNaN(r.dbReads) ? '—' : pct(r.dbReads, r.report.requests),
      Number.isNaN(r.cpu) ? '—' : `${((r.cpu / Number(args.duration)) * 100).toFixed(0)}% of a core`,
      Number.isNaN(r.cpu) ? '—' : ((r.cpu * 1000) / Math.max(1, r.report.requests)).toFixed(3),
    ],
  ),
)}

status codes: ${rows.map((r) => `${r.label}/s ${JSON.stringify(r.report.status_codes)}`).join('; ')} (404: an inactive user, as
the API answers; 0: no answer within 5 s)
ceiling: redis-benchmark HGETALL of a profile document, 50 clients, same run: ${ceiling} requests/s; "bare node:http" rows:
the same rates against a node:http server that answers every request with a fixed body of the API's mean size
(bench/src/http-ceiling.ts), the floor any Node HTTP service meets on this machine
`);
} finally {
  for (const api of apis) await api[Symbol.asyncDispose]();
  await redis.config('SET', 'maxmemory', previousMaxmemory);
  redis.disconnect();
}
