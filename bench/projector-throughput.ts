/**
 * The cache projector, beside the machine's ceilings, in one run:
 *  1. rebuild: N change events (users, room memberships, messages, shaped as the CDC service writes them) produced
 *     into topics of their own, then a projector with a fresh consumer group drains them into Redis: events/s from
 *     its start to every partition read and applied; then the operators' rebuild command itself
 *     (`operations-cli.ts rebuild --grace-ms 0`, which is what issue 5's "rebuild speed" means) replays the same
 *     topics into a new key generation and switches to it: events/s as it reports them, over its replay. Ceilings: a
 *     kafkajs consumer that only reads the same topics, and `redis-benchmark` running the projector's own document
 *     script (EVALSHA, same pipeline depth);
 *  2. latency (with --rate): rows inserted into `messages` of the platform database at a steady rate while the
 *     stack's CDC service and projector run (`./bgc start`); commit → applied in Redis from the projector's
 *     `projector_commit_to_redis_seconds` histogram (before/after difference, interpolated within buckets).
 *
 * The projector's CPU per event (user + system time of its process over the rebuild, /proc/<pid>/stat) is printed beside
 * the rate: on this shared 2-core machine it varies far less than events/s. `--cpu-prof DIR` runs the rebuild's
 * projector under the CPU profiler (a .cpuprofile in DIR when it stops); `--no-ceilings` skips the two ceilings;
 * `--latency-projector own` measures the latency on a projector of the bench's own, running this tree's code (a fresh
 * group starting at the topics' ends, the bench's key prefix) instead of the stack's, which keeps running.
 *
 *   node bench/projector-throughput.ts [--events 300000] [--rate 2000] [--seconds 20] [--no-ceilings]
 *                                      [--cpu-prof DIR] [--latency-projector stack|own]
 */
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { PROJECTED_TABLES } from '@bgc/cache/projections';
import { SCRIPTS } from '@bgc/cache/scripts';
import { tableTopic } from '@bgc/events/topics';
import { loadEnv } from '@bgc/config/env';
import { startServiceProcess } from '@bgc/testkit/service-process';
import { infraEnv } from '@bgc/config/infra';
import { defaultMigratorUrl } from './src/db.ts';
import { processCpuSeconds } from './src/process-cpu.ts';
import { table } from './src/stats.ts';
import { benchArgs } from './src/cli-args.ts';

const { values: args } = benchArgs({
  options: {
    events: { type: 'string', default: '300000' },
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '20' },
    ceilings: { type: 'boolean', default: true },
    'cpu-prof': { type: 'string' },
    'latency-projector': { type: 'string', default: 'stack' },
  },
  allowNegative: true,
});
if (!['stack', 'own'].includes(args['latency-projector'])) throw new Error('--latency-projector stack|own');
const infra = loadEnv(infraEnv);
const log = (s: string) => process.stderr.write(`${s}\n`);
const PREFIX = 'benchproj';
const KEY_PREFIX = 'bench:p:';
const total = Number(args.events);
const kafka = new Kafka({ brokers: infra.KAFKA_BROKERS, clientId: 'bench-projector', logLevel: logLevel.WARN });
const topics = ['users', 'room_members', 'messages'].map((t) => `${PREFIX}.public.${t}`);
// the projector waits for every topic it reads; these stay empty here
const emptyTopics = PROJECTED_TABLES.map((t) => `${PREFIX}.public.${t}`).filter((t) => !topics.includes(t));

function bar(what: string) {
  return new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `{bar} {percentage}% | {value}/{total} ${what} | {rate}/s | ETA {eta_formatted}`,
      fps: 5,
      noTTYOutput: true,
      notTTYSchedule: 2000,
    },
    cliProgress.Presets.shades_classic,
  );
}

/** The i-th synthetic event: 20% users, 20% memberships, 60% messages over 2,000 rooms. */
function event(i: number): { topic: string; key: string; value: string } {
  const source = {
    version: 'bench',
    connector: 'postgresql',
    name: PREFIX,
    ts_ms: Date.now(),
    snapshot: 'true',
    db: 'bench',
    sequence: `["${1_000_000 + i}","1"]`,
    schema: 'public',
    txId: i,
    lsn: null,
    xmin: null,
  };
  const uuid = (kind: number, n: number) => `00000000-0000-4000-8${kind}00-${n.toString(16).padStart(12, '0')}`;
  const k = i % 10;
  if (k < 2) {
    const id = uuid(1, i);
    const after = {
      id,
      email: `u${i}@example.com`,
      name: `User ${i}`,
      image: null,
      is_active: true,
      version: 1,
      created_at: '2026-11-28T00:00:00.000000Z',
    };
    return {
      topic: topics[0] ?? '',
      key: JSON.stringify({ id }),
      value: JSON.stringify({
        before: null,
        after,
        source: { ...source, table: 'users' },
        op: 'r',
        ts_ms: Date.now(),
        transaction: null,
      }),
    };
  }
  if (k < 4) {
    const after = { room_id: uuid(2, i % 2000), user_id: uuid(1, i), role: 'MEMBER', version: 1 };
    return {
      topic: topics[1] ?? '',
      key: JSON.stringify({ room_id: after.room_id, user_id: after.user_id }),
      value: JSON.stringify({
        before: null,
        after,
        source: { ...source, table: 'room_members' },
        op: 'r',
        ts_ms: Date.now(),
        transaction: null,
      }),
    };
  }
  const id = uuid(3, i);
  const after = {
    id,
    created_at: new Date(1_790_000_000_000 + i * 10).toISOString(),
    room_id: uuid(2, i % 2000),
    conversation_id: null,
    sender_id: uuid(1, i - (i % 10)),
    type: 'TEXT',
    content: `message ${i} ${'x'.repeat(60)}`,
    edited_at: null,
    version: 1,
  };
  return {
    topic: topics[2] ?? '',
    key: JSON.stringify({ id, created_at: after.created_at }),
    value: JSON.stringify({
      before: null,
      after,
      source: { ...source, table: 'messages' },
      op: 'r',
      ts_ms: Date.now(),
      transaction: null,
    }),
  };
}

async function cleanUp() {
  const admin = kafka.admin();
  await admin.connect();
  const existing = (await admin.listTopics()).filter((t) => t.startsWith(`${PREFIX}.`));
  if (existing.length > 0) await admin.deleteTopics({ topics: existing });
  await admin.disconnect();
  const redis = new Redis(infra.REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${KEY_PREFIX}*`, 'COUNT', 5000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  redis.disconnect();
}

async function produce() {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [...topics, ...emptyTopics].map((topic) => ({ topic, numPartitions: 3 })),
  });
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const b = bar('events produced');
  b.start(total, 0, { rate: 0 });
  const t0 = Date.now();
  for (let i = 0; i < total; i += 5000) {
    const events = Array.from({ length: Math.min(5000, total - i) }, (_, j) => event(i + j));
    const byTopic = new Map<string, { key: string; value: string }[]>();
    for (const e of events) {
      const list = byTopic.get(e.topic);
      if (list) list.push({ key: e.key, value: e.value });
      else byTopic.set(e.topic, [{ key: e.key, value: e.value }]);
    }
    await producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
    b.update(i + events.length, { rate: Math.round((i + events.length) / ((Date.now() - t0) / 1000)) });
  }
  b.stop();
  await producer.disconnect();
}

/** A consumer that only reads: how fast kafkajs alone gets the events out of the broker here. */
async function readCeiling(): Promise<number> {
  const consumer = kafka.consumer({
    groupId: `bench-read-${crypto.randomUUID()}`,
    maxBytesPerPartition: 4 * 1024 * 1024,
  });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  let read = 0;
  let t0 = 0;
  const done = new Promise<number>((resolve) => {
    void consumer.run({
      partitionsConsumedConcurrently: 3,
      eachBatch: async ({ batch }) => {
        t0 ||= Date.now();
        read += batch.messages.length;
        if (read >= total) resolve(Date.now() - t0);
        await Promise.resolve();
      },
    });
  });
  const ms = await done;
  await consumer.disconnect();
  return total / (ms / 1000);
}

/** redis-benchmark running the projector's document script, as pipelined as the projector (500 per pipeline). */
async function redisCeiling(): Promise<string> {
  const redis = new Redis(infra.REDIS_URL);
  const sha = String(await redis.script('LOAD', SCRIPTS.putPart.lua));
  redis.disconnect();
  const port = new URL(infra.REDIS_URL).port;
  const out = execFileSync(
    'redis-benchmark',
    [
      '-p',
      port,
      '-n',
      '300000',
      '-P',
      '500',
      '-r',
      '100000',
      '-q',
      'EVALSHA',
      sha,
      '1',
      `${KEY_PREFIX}rb:{__rand_int__}`,
      'uv',
      'u',
      '00000000000000000001',
      '{"name":"x"}',
      '600000',
    ],
    { encoding: 'utf8' },
  );
  return /([\d.]+) requests per second/.exec(out)?.[1] ?? `failed: ${out.slice(0, 200)}`;
}

const projectorEntry = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../services/cache-projector/src/main.ts',
);
const operationsEntry = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../services/cache-projector/src/operations-cli.ts',
);

const metricSum = (text: string, name: string) =>
  [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+]+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);

/** The cache Redis's own process, whose CPU is read beside the rebuilds' (the same machine). */
async function cacheRedisPid(): Promise<number> {
  const redis = new Redis(infra.REDIS_URL);
  const info = await redis.info('server');
  redis.disconnect();
  return Number(/process_id:(\d+)/.exec(info)?.[1]);
}
const redisPid = await cacheRedisPid();

async function rebuild(): Promise<{ rate: number; seconds: number; cpuMicros: number; redisMicros: number }> {
  const profile = args['cpu-prof'];
  const projector = await startServiceProcess({
    name: 'cache-projector',
    entry: projectorEntry,
    env: {
      BGC_PROJECTOR_TOPIC_PREFIX: PREFIX,
      BGC_PROJECTOR_KEY_PREFIX: KEY_PREFIX,
      BGC_PROJECTOR_GROUP: `bench-projector-${crypto.randomUUID()}`,
      BGC_PROJECTOR_METRICS_PORT: '0',
      BGC_LOG_LEVEL: 'info',
      ...(profile ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${path.resolve(profile)}` } : {}),
    },
    ready: (line) => line.includes('"msg":"consuming"'),
  });
  process.on('exit', () => void projector.kill());
  const url = projector.url;
  const t0 = Date.now();
  const cpu0 = processCpuSeconds(projector.pid);
  const redis0 = processCpuSeconds(redisPid);
  const b = bar('events applied');
  b.start(total, 0, { rate: 0 });
  for (;;) {
    await sleep(200);
    const text = await (await fetch(`${url}/metrics`)).text();
    const seen = metricSum(text, 'projector_events_total');
    b.update(seen, { rate: Math.round(seen / ((Date.now() - t0) / 1000)) });
    if (seen >= total) break;
  }
  const ms = Date.now() - t0;
  const cpuMicros = ((processCpuSeconds(projector.pid) - cpu0) / total) * 1e6;
  const redisMicros = ((processCpuSeconds(redisPid) - redis0) / total) * 1e6;
  b.stop();
  await projector.stop();
  return { rate: total / (ms / 1000), seconds: ms / 1000, cpuMicros, redisMicros };
}

/**
 * The operators' rebuild itself (`operations-cli.ts rebuild --grace-ms 0`) on the bench's topics and key prefix: a
 * new generation filled by the replay, then the switch. Its rate is the one it prints (events replayed over the
 * replay's seconds); its CPU is read from /proc when it prints its summary, while it is still alive.
 */
async function operatorsRebuild(): Promise<{
  rate: number;
  seconds: number;
  cpuMicros: number;
  redisMicros: number;
  line: string;
}> {
  const child = spawn(process.execPath, [operationsEntry, 'rebuild', '--grace-ms', '0'], {
    env: {
      ...process.env,
      BGC_PROJECTOR_TOPIC_PREFIX: PREFIX,
      BGC_PROJECTOR_KEY_PREFIX: KEY_PREFIX,
      BGC_PROJECTOR_GROUP: `bench-rebuild-${crypto.randomUUID()}`,
      ...(args['cpu-prof'] ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${path.resolve(args['cpu-prof'])}` } : {}),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const cpu0 = processCpuSeconds(child.pid);
  const redis0 = processCpuSeconds(redisPid);
  let cpu = NaN;
  let redisCpu = NaN;
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (Number.isNaN(cpu) && /is live/.test(out)) {
      cpu = processCpuSeconds(child.pid) - cpu0;
      redisCpu = processCpuSeconds(redisPid) - redis0;
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const m = /replayed (\d+) events \(\d+ writes\) in ([\d.]+) s, (\d+) events\/s/.exec(out);
  if (code !== 0 || !m) throw new Error(`the rebuild failed (exit ${code}):\n${out}`);
  const events = Number(m[1]);
  return {
    rate: Number(m[3]),
    seconds: Number(m[2]),
    cpuMicros: (cpu / events) * 1e6,
    redisMicros: (redisCpu / events) * 1e6,
    line: out.trim(),
  };
}

/**
 * A projector of the bench's own on the platform's topics, running this tree's code: a fresh group whose offsets are
 * set to the topics' ends first (so it does not replay their history), writing under the bench's key prefix.
 */
async function ownProjector() {
  const topicPrefix = 'bgc';
  const group = `bench-projector-latency-${crypto.randomUUID()}`;
  const admin = kafka.admin();
  await admin.connect();
  for (const table of PROJECTED_TABLES) {
    const topic = tableTopic(topicPrefix, 'public', table);
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.setOffsets({
      groupId: group,
      topic,
      partitions: ends.map((o) => ({ partition: o.partition, offset: o.high })),
    });
  }
  await admin.disconnect();
  const projector = await startServiceProcess({
    name: 'cache-projector (latency)',
    entry: projectorEntry,
    env: {
      BGC_PROJECTOR_TOPIC_PREFIX: topicPrefix,
      BGC_PROJECTOR_KEY_PREFIX: KEY_PREFIX,
      BGC_PROJECTOR_GROUP: group,
      BGC_PROJECTOR_METRICS_PORT: '0',
      BGC_LOG_LEVEL: 'info',
    },
    ready: (line) => line.includes('"msg":"consuming"'),
  });
  process.on('exit', () => void projector.kill());
  return {
    projector,
    async stop() {
      await projector.stop();
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteGroups([group]).catch(() => undefined);
      await admin.disconnect();
    },
  };
}

/** Quantile of a Prometheus histogram (cumulative buckets), linear within the bucket. */
function quantile(buckets: [number, number][], q: number): number {
  const count = buckets[buckets.length - 1]?.[1] ?? 0;
  const rank = q * count;
  let [prevLe, prevN] = [0, 0];
  for (const [le, n] of buckets) {
    if (n >= rank) return le === Infinity ? prevLe : prevLe + ((le - prevLe) * (rank - prevN)) / Math.max(1, n - prevN);
    [prevLe, prevN] = [le, n];
  }
  return NaN;
}

async function histogram(metricsUrl: string): Promise<[number, number][]> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  return [...text.matchAll(/^projector_commit_to_redis_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} (\d+)/gm)].map((m) => [
    m[1] === '+Inf' ? Infinity : Number(m[1]),
    Number(m[2]),
  ]);
}

async function latency(rate: number, seconds: number, metricsUrl: string) {
  const db = new pg.Client({ connectionString: defaultMigratorUrl() });
  await db.connect();
  const user = (
    await db.query<{ id: string }>(
      `INSERT INTO users (email, name, password_hash) VALUES ($1, 'Bench', 'x') RETURNING id`,
      [`bench.${crypto.randomUUID()}@example.com`],
    )
  ).rows[0]?.id;
  const room = (
    await db.query<{ id: string }>(
      `INSERT INTO chat_rooms (name, created_by) VALUES ('bench latency', $1) RETURNING id`,
      [user],
    )
  ).rows[0]?.id;
  await db.query(`INSERT INTO room_members (room_id, user_id) VALUES ($1, $2)`, [room, user]);
  await sleep(2000);
  const before = await histogram(metricsUrl);
  const until = Date.now() + seconds * 1000;
  let next = Date.now();
  let written = 0;
  while (Date.now() < until) {
    const n = rate / 100;
    await db.query(
      `INSERT INTO messages (room_id, sender_id, content) SELECT $1, $2, 'bench ' || g FROM generate_series(1, $3::int) g`,
      [room, user, n],
    );
    written += n;
    next += 10;
    await sleep(Math.max(0, next - Date.now()));
  }
  await sleep(3000);
  const after = await histogram(metricsUrl);
  await db.end();
  const diff = after.map(([le, n], i): [number, number] => [le, n - (before[i]?.[1] ?? 0)]);
  return {
    written,
    rate: written / seconds,
    n: diff[diff.length - 1]?.[1] ?? 0,
    p50: quantile(diff, 0.5),
    p95: quantile(diff, 0.95),
    p99: quantile(diff, 0.99),
  };
}

log('cleaning up earlier runs');
await cleanUp();
log(`producing ${total} events into ${topics.join(', ')}`);
await produce();
let readRate = NaN;
let redisRate = 'not measured';
if (args.ceilings) {
  log('ceiling: a consumer that only reads');
  readRate = await readCeiling();
  log('ceiling: redis-benchmark, the document script');
  redisRate = await redisCeiling();
}
log('rebuild: a projector with a fresh group');
const built = await rebuild();
log("rebuild: the operators' command, operations-cli.ts rebuild");
const operators = await operatorsRebuild();
log(operators.line);
const rate = Number(args.rate);
let lat: Awaited<ReturnType<typeof latency>> | undefined;
if (rate > 0) {
  const own = args['latency-projector'] === 'own' ? await ownProjector() : undefined;
  log(`latency: ${rate} messages/s for ${args.seconds} s through the stack's CDC and ${own ? 'a' : 'its'} projector`);
  try {
    lat = await latency(rate, Number(args.seconds), own?.projector.url ?? 'http://127.0.0.1:23200');
  } finally {
    await own?.stop();
  }
}
await cleanUp();
process.stdout.write(`
method: ${total} synthetic change events (20% users, 20% room memberships, 60% messages in 2,000 rooms), shaped as
the CDC service writes them, in 3-partition topics of their own; rebuild = a projector process with a fresh consumer
group, from its "consuming" line until its projector_events_total reaches ${total} (metrics polled every 200 ms),
its CPU = user + system time of its process over that span (/proc/<pid>/stat) per event; operators' rebuild =
\`operations-cli.ts rebuild --grace-ms 0\` on the same topics (a new generation, then the switch): events over its
replay's seconds as it prints them, its CPU from its start until it prints its summary, per event; the cache
Redis's CPU over each (its process_id from INFO, /proc) per event;
ceilings measured in the same run: a kafkajs consumer that only reads the same topics, and redis-benchmark running
the projector's document script (EVALSHA, 500 per pipeline, random keys); latency = projector_commit_to_redis_seconds
(commit in Postgres → write acknowledged by Redis) over the messages inserted at a steady rate through the stack
(projector: ${args['latency-projector'] === 'own' ? "the bench's own, this tree's code, beside the stack's" : "the stack's"}).

${table(
  ['measure', 'value'],
  [
    ['rebuild: events applied per second', built.rate.toFixed(0)],
    ['rebuild: wall time (s)', built.seconds.toFixed(1)],
    ['rebuild: projector CPU µs per event', built.cpuMicros.toFixed(1)],
    ['rebuild: cache Redis CPU µs per event', built.redisMicros.toFixed(1)],
    ["operators' rebuild: events replayed per second", operators.rate.toFixed(0)],
    ["operators' rebuild: replay time (s)", operators.seconds.toFixed(1)],
    ["operators' rebuild: CPU µs per event", operators.cpuMicros.toFixed(1)],
    ["operators' rebuild: cache Redis CPU µs per event", operators.redisMicros.toFixed(1)],
    ['ceiling: kafkajs read only (events/s)', Number.isNaN(readRate) ? 'not measured' : readRate.toFixed(0)],
    ['ceiling: redis-benchmark EVALSHA (ops/s)', redisRate],
    ...(lat
      ? [
          [`latency: messages written (${lat.rate.toFixed(0)}/s)`, String(lat.written)],
          ['latency: events measured', String(lat.n)],
          ['  p50 ms', (lat.p50 * 1000).toFixed(1)],
          ['  p95 ms', (lat.p95 * 1000).toFixed(1)],
          ['  p99 ms', (lat.p99 * 1000).toFixed(1)],
        ]
      : []),
  ],
)}
`);
