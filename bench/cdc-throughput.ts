/**
 * The CDC service under load, beside the machine's ceiling for the same changes, in one run:
 *  1. throughput: N rows inserted in transactions of M rows; changes/s from the first commit until Kafka holds the
 *     last event, against `pg_recvlogical` decoding the very same changes (pgoutput, same publication) to /dev/null;
 *  2. latency: a steady write rate (default 2,000 rows/s); commit → readable by a consumer, per event, from the
 *     event's commit time (`source.ts_ms`) to its arrival at a consumer on the same machine.
 *
 *   node bench/cdc-throughput.ts [--db bench_cdc] [--rows 200000] [--txn-rows 1000] [--rate 2000] [--seconds 20]
 *
 *   [--rounds 3]   (throughput rounds: this machine is noisy, so the table gives their median and range)
 *
 * Needs the stack (./bgc stack up). Uses a database of its own (recreated) and its own slots and topics.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { withDatabase } from '@bgc/config/database';
import { loadEnv } from '@bgc/config/env';
import { infraEnv } from '@bgc/config/infra';
import { prepareDatabase, roleUrlsFor, superuserUrl } from './src/db.ts';
import { processCpuSeconds } from './src/process-cpu.ts';
import { libpqEnv, runProgram, summarize, table } from './src/stats.ts';
import { benchArgs } from './src/cli-args.ts';

const { values: args } = benchArgs({
  options: {
    db: { type: 'string', default: 'bench_cdc' },
    rows: { type: 'string', default: '200000' },
    'txn-rows': { type: 'string', default: '1000' },
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
  },
});
const db = args.db;
const rows = Number(args.rows);
const txnRows = Number(args['txn-rows']);
const infra = loadEnv(infraEnv);
const log = (s: string) => process.stderr.write(`${s}\n`);
const SLOT = 'bench_cdc';
const CEILING_SLOT = 'bench_cdc_recvlogical';
const PREFIX = `bench.${db}`;
const usersTopic = `${PREFIX}.public.users`;
const kafka = new Kafka({ brokers: infra.KAFKA_BROKERS, clientId: 'bench-cdc', logLevel: logLevel.NOTHING });

async function cleanUp() {
  const admin = new pg.Client({ connectionString: superuserUrl() });
  await admin.connect();
  try {
    await admin.query(
      `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
                        WHERE slot_name IN ($1, $2) AND active_pid IS NOT NULL`,
      [SLOT, CEILING_SLOT],
    );
    await sleep(300);
    await admin.query(
      `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                        WHERE slot_name IN ($1, $2)`,
      [SLOT, CEILING_SLOT],
    );
  } finally {
    await admin.end();
  }
  const kadmin = kafka.admin();
  await kadmin.connect();
  const topics = (await kadmin.listTopics()).filter((t) => t.startsWith(`${PREFIX}.`));
  if (topics.length > 0) await kadmin.deleteTopics({ topics });
  await kadmin.disconnect();
}

/** A free TCP port on loopback (for the service's metrics, read at each phase's ends). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
const metricsPort = await freePort();

/** Seconds the service's stream loop has waited so far, on the WAL and on Kafka (`cdc_stream_wait_seconds_total`). */
async function streamWaits(): Promise<{ wal: number; kafka: number }> {
  const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
  const read = (on: string) =>
    Number(new RegExp(`cdc_stream_wait_seconds_total\\{on="${on}"[^}]*\\} (\\S+)`).exec(text)?.[1] ?? 0);
  return { wal: read('wal'), kafka: read('kafka') };
}

function startCdc(cdcUrl: string) {
  const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../services/cdc/src/main.ts');
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      BGC_DB_CDC_URL: cdcUrl,
      BGC_CDC_SLOT: SLOT,
      BGC_CDC_TOPIC_PREFIX: PREFIX,
      BGC_CDC_METRICS_PORT: String(metricsPort),
      BGC_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const streaming = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('"msg":"streaming"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`cdc exited with ${code}`)));
  });
  return { child, streaming };
}

async function topicEnd(admin: ReturnType<Kafka['admin']>): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(usersTopic).catch(() => []);
  return offsets.reduce((n, o) => n + Number(o.high), 0);
}

await cleanUp();
log(`preparing database ${db}`);
const migratorUrl = await prepareDatabase(db, { reset: true });
const urls = roleUrlsFor(db);
const writer = new pg.Client({ connectionString: migratorUrl });
await writer.connect();
await writer.query('SET statement_timeout = 0');
const superDb = withDatabase(superuserUrl(), db);
const ceilingSlot = new pg.Client({ connectionString: superDb });
await ceilingSlot.connect();
let cdc = startCdc(urls.DB_CDC_URL);
process.on('exit', () => cdc.child.kill('SIGKILL')); // never leave the service running after a failed run
/** Until the service streams: its "streaming" line is info (it runs at warn), so watch its slot turn active. */
async function streaming(service: ReturnType<typeof startCdc>) {
  await Promise.race([
    service.streaming,
    (async () => {
      for (;;) {
        const r = await ceilingSlot.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active`, [SLOT]);
        if (r.rowCount) return;
        await sleep(100);
      }
    })(),
  ]);
}
await streaming(cdc);
const admin = kafka.admin();
await admin.connect();

function progressBar() {
  return new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: '{bar} {percentage}% | {value}/{total} events in Kafka | {rate} events/s | ETA {eta_formatted}',
      fps: 5,
      noTTYOutput: true,
      notTTYSchedule: 2000,
    },
    cliProgress.Presets.shades_classic,
  );
}

/** Inserts rows `from`+1 … `from`+`count` in transactions of `txnRows`; resolves with the time it took. */
async function insertUsers(from: number, count: number): Promise<number> {
  const started = Date.now();
  for (let done = 0; done < count;) {
    const n = Math.min(txnRows, count - done);
    await writer.query(
      `INSERT INTO users (email, name, password_hash)
       SELECT 'b' || g || '@example.com', 'Bench ' || g, 'x' FROM generate_series($1::int, $2::int) g`,
      [from + done + 1, from + done + n],
    );
    done += n;
  }
  return Date.now() - started;
}

/** Polls the topic until it holds `total` events; resolves with the time from `since`. */
async function untilInKafka(total: number, since: number, already: number): Promise<number> {
  const bar = progressBar();
  bar.start(total - already, 0, { rate: 0 });
  let inKafka = already;
  while (inKafka < total) {
    await sleep(200);
    inKafka = await topicEnd(admin);
    bar.update(inKafka - already, { rate: Math.round((inKafka - already) / ((Date.now() - since) / 1000)) });
  }
  bar.stop();
  return Date.now() - since;
}

// 1. latency at a steady rate, on a quiet system (after the bulk phases the broker is busy compacting for a while)
const rate = Number(args.rate);
const seconds = Number(args.seconds);
log(`latency: ${rate} rows/s for ${seconds} s (transactions of ${rate / 100} rows every 10 ms)`);
const consumer = kafka.consumer({ groupId: `bench-cdc-${Date.now()}`, maxWaitTimeInMs: 50 });
await consumer.connect();
await consumer.subscribe({ topic: usersTopic });
const latencies: number[] = [];
let measuring = false;
await consumer.run({
  eachMessage: ({ message }) => {
    if (measuring && message.value) {
      const event = JSON.parse(message.value.toString()) as { source: { ts_ms: number }; op: string };
      if (event.op === 'c') latencies.push(Date.now() - event.source.ts_ms);
    }
    return Promise.resolve();
  },
});
await sleep(3000); // the group settles on the topic's end
measuring = true;
const until = Date.now() + seconds * 1000;
let next = Date.now();
let k = 0;
while (Date.now() < until) {
  const n = rate / 100;
  await writer.query(
    `INSERT INTO users (email, name, password_hash)
     SELECT 'l' || g || '@example.com', 'Latency ' || g, 'x' FROM generate_series($1::int, $2::int) g`,
    [k + 1, k + n],
  );
  k += n;
  next += 10;
  await sleep(Math.max(0, next - Date.now()));
}
const writtenRate = k / seconds;
await sleep(2000);
measuring = false;
await consumer.disconnect();
const base = await topicEnd(admin);

// the ceiling's slot starts here: it decodes exactly the two bulk ranges below
await ceilingSlot.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [CEILING_SLOT]);

const rounds = Number(args.rounds);
const live: number[] = [];
const liveCpu: number[] = [];
const drainCpu: number[] = [];
const liveInserts: number[] = [];
const drains: number[] = [];
const drainInserts: number[] = [];
const startups: number[] = [];
const drainWaitWal: number[] = [];
const drainWaitKafka: number[] = [];
for (let round = 0; round < rounds; round++) {
  const offset = base + 2 * rows * round;
  // 2a. live: the service streams while the rows are written (bounded by how fast Postgres takes the inserts)
  log(`round ${round + 1}/${rounds}, live: ${rows} rows in transactions of ${txnRows} while the service streams`);
  const t0 = Date.now();
  const liveCpu0 = processCpuSeconds(cdc.child.pid);
  const inserting = insertUsers(2 * rows * round, rows);
  live.push(rows / ((await untilInKafka(offset + rows, t0, offset)) / 1000));
  liveCpu.push(((processCpuSeconds(cdc.child.pid) - liveCpu0) / rows) * 1e6);
  liveInserts.push(rows / ((await inserting) / 1000));

  // 2b. backlog: as many rows written while the service is stopped, then drained from the slot (the WAL ranges
  // pg_recvlogical decodes below, so the two compare like for like)
  log(`round ${round + 1}/${rounds}, backlog: ${rows} more rows with the service stopped, then drained`);
  cdc.child.kill('SIGTERM');
  await new Promise((r) => cdc.child.once('exit', r));
  drainInserts.push(rows / ((await insertUsers(2 * rows * round + rows, rows)) / 1000));
  const b0 = Date.now();
  cdc = startCdc(urls.DB_CDC_URL);
  await streaming(cdc);
  const drainStart = Date.now();
  const drainCpu0 = processCpuSeconds(cdc.child.pid);
  const waits0 = await streamWaits();
  const drainMs = await untilInKafka(offset + 2 * rows, drainStart, offset + rows);
  drains.push(rows / (drainMs / 1000));
  drainCpu.push(((processCpuSeconds(cdc.child.pid) - drainCpu0) / rows) * 1e6);
  const waits1 = await streamWaits();
  drainWaitWal.push(((waits1.wal - waits0.wal) / (drainMs / 1000)) * 100);
  drainWaitKafka.push(((waits1.kafka - waits0.kafka) / (drainMs / 1000)) * 100);
  startups.push((drainStart - b0) / 1000);
}
const endLsn = (await writer.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn ?? '';

// the ceiling: pgoutput decoding of the same changes by Postgres's own client, written nowhere
log('ceiling: pg_recvlogical over the same changes');
const c0 = Date.now();
await runProgram(
  'pg_recvlogical',
  [
    '-d',
    superDb,
    '--start',
    '-S',
    CEILING_SLOT,
    '-o',
    'proto_version=1',
    '-o',
    'publication_names=bgc_cdc',
    '-E',
    endLsn,
    '-f',
    '/dev/null',
  ],
  libpqEnv(superDb),
);
const ceilingMs = Date.now() - c0;
await ceilingSlot.query('SELECT pg_drop_replication_slot($1)', [CEILING_SLOT]);

await admin.disconnect();
cdc.child.kill('SIGTERM');
await new Promise((r) => cdc.child.once('exit', r));
await writer.end();
await ceilingSlot.end();
await cleanUp();

const lat = summarize(latencies);
const ceiling = (2 * rows * rounds) / (ceilingMs / 1000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
/** median (min–max) of the rounds */
const spread = (xs: number[], digits = 0) =>
  xs.length === 1
    ? (xs[0] ?? 0).toFixed(digits)
    : `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
process.stdout.write(`
method: ${rows} rows into users in transactions of ${txnRows} (INSERT … SELECT generate_series, one connection),
twice per round, ${rounds} round(s), medians (min–max): live = rows / (first insert → last event in Kafka, topic end offsets polled every 200 ms) while the service
streams; backlog = the same number of rows written with the service stopped, then rows / (its slot active again →
last event in Kafka); ceiling = pg_recvlogical (pgoutput, proto 1, same publication) decoding all those WAL ranges to
/dev/null; CDC CPU µs per event = the service process's user + system CPU over the phase (/proc/<pid>/stat) / rows;
waiting on WAL / Kafka = the service's cdc_stream_wait_seconds_total over the drain (its loop found no WAL to read, or
held back while batches queued for Kafka);
latency = consumer arrival − commit time (source.ts_ms) for each event while ${writtenRate.toFixed(0)} rows/s were written; all on this machine, in one run.

${table(
  ['measure', 'value'],
  [
    ['live: CDC throughput (changes/s)', spread(live)],
    ['live: CDC CPU µs per event', spread(liveCpu, 1)],
    ['live: the inserts meanwhile (rows/s)', spread(liveInserts)],
    ['backlog: CDC drain (changes/s)', spread(drains)],
    ['backlog: CDC CPU µs per event', spread(drainCpu, 1)],
    ['backlog: CDC loop waiting on WAL (% of drain)', spread(drainWaitWal, 1)],
    ['backlog: CDC loop waiting on Kafka (% of drain)', spread(drainWaitKafka, 1)],
    ['backlog: service start to streaming (s)', spread(startups, 1)],
    ['backlog: the inserts alone (rows/s)', spread(drainInserts)],
    ['pg_recvlogical ceiling, all ranges (changes/s)', ceiling.toFixed(0)],
    ['backlog drain / ceiling (medians)', `${((median(drains) / ceiling) * 100).toFixed(0)}%`],
    ['live / ceiling (medians)', `${((median(live) / ceiling) * 100).toFixed(0)}%`],
    [`commit → consumer at ${writtenRate.toFixed(0)}/s: events`, String(lat.n)],
    ['  p50 ms', lat.median.toFixed(1)],
    ['  p95 ms', lat.p95.toFixed(1)],
    ['  p99 ms', lat.p99.toFixed(1)],
  ],
)}
`);
