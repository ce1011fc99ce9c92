/**
 * Message sends through the write API, as clients would send them: wrk (C, Debian) holds N connections open and
 * posts to random rooms as random members, for a fixed time per concurrency level. Beside it, in the same run:
 * the most server connections Postgres saw (sampled every 200 ms), and the ceiling of the same statement sent
 * straight to PgBouncer by pgbench, so the HTTP figures can be read against what the database alone does.
 *
 *   node bench/write-api-load.ts [--url http://127.0.0.1:23000] [--connections 16,50,1000] [--duration 20]
 *                                [--rates 1000,1500] [--warmup 5] [--generators oha,vegeta] [--senders 2]
 *                                [--id-defaults gen_random_uuid,uuidv7]
 *
 * --rates adds an open-loop phase per rate: sends leave on schedule at that rate whatever the answers' latency,
 * which is how "N requests/s with p99 under X" is measured; wrk's closed loop (each connection waits for its
 * answer) finds the most the API takes, but its latencies leave out the queueing a fixed rate causes. The open
 * loop's generator is oha (`src/oha.ts`, one process per sender: --senders users, each a member of every room and
 * posting to all of them) or vegeta (`src/vegeta.ts`, the same users and rooms); --generators oha,vegeta runs each
 * rate with both, side by side. Each phase reports the whole machine's busy share (from /proc/stat, the generator
 * included) beside the CPU each process of the stack used per send, and the machine's own stalls seen by an idle
 * probe thread (`src/stall-probe.ts`), so a tail the server did not cause can be told apart: with oha, also the p99
 * over the answers no stall overlapped while in flight (the backlog a stall leaves behind stays in it). An empty
 * --connections skips the wrk levels.
 * --id-defaults runs each rate once per default of messages.id, side by side (switched as superuser, a CHECKPOINT
 * before each run so each starts with the same full-page-image debt, and uuidv7() restored at the end), with the
 * WAL each send wrote: random ids against time-ordered ones.
 *
 * Needs the stack and the write API running (./bgc start), wrk (apt-get install wrk), and cargo or Go to build oha
 * or vegeta the first time.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { databaseEnv } from '@bgc/config/database';
import { loadEnv } from '@bgc/config/env';
import { infraEnv } from '@bgc/config/infra';
import type { OpenLoopResult, Sender } from './src/oha.ts';
import { ohaBinary, postAtRate } from './src/oha.ts';
import { cpuBetweenSnapshots, cpuSnapshot, machineCpu, perUnit } from './src/process-cpu.ts';
import type { Stalls } from './src/stall-probe.ts';
import { startStallProbe } from './src/stall-probe.ts';
import { percentile, table } from './src/stats.ts';
import { attack, vegetaBinary, writeTargets } from './src/vegeta.ts';
import { benchArgs } from './src/cli-args.ts';

const { values: args } = benchArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:23000' },
    connections: { type: 'string', default: '16,50,1000' },
    duration: { type: 'string', default: '20' },
    users: { type: 'string', default: '200' },
    rooms: { type: 'string', default: '50' },
    rates: { type: 'string', default: '' },
    warmup: { type: 'string', default: '5' },
    'id-defaults': { type: 'string', default: '' },
    generators: { type: 'string', default: 'oha' },
    senders: { type: 'string', default: '2' },
  },
});
const infra = loadEnv(infraEnv);
const log = (s: string) => process.stderr.write(`${s}\n`);

function need(bin: string, pkg: string) {
  try {
    execFileSync('which', [bin], { stdio: 'ignore' });
  } catch {
    throw new Error(`${bin} is missing: apt-get install -y ${pkg}`);
  }
}

async function post<T>(p: string, body: unknown, token?: string): Promise<T> {
  const res = await fetch(`${args.url}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${p}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Users, rooms, memberships; returns (token, room) pairs a member may post to. */
async function setUp(): Promise<[string, string][]> {
  const stamp = Date.now();
  const users: string[] = [];
  for (let i = 0; i < Number(args.users); i++) {
    const r = await post<{ token: string }>('/v1/auth/signup', {
      email: `load.${stamp}.${i}@example.com`,
      password: 'load-test-password',
      name: `Load ${i}`,
    });
    users.push(r.token);
    if (i % 50 === 49) log(`  ${i + 1} users`);
  }
  const rooms: string[] = [];
  for (let i = 0; i < Number(args.rooms); i++) {
    rooms.push((await post<{ id: string }>('/v1/rooms', { name: `load ${stamp} ${i}` }, users[0])).id);
  }
  const pairs: [string, string][] = [];
  for (const [i, token] of users.entries()) {
    for (let k = 0; k < 3; k++) {
      const room = rooms[(i * 7 + k * 13) % rooms.length] ?? '';
      await post(`/v1/rooms/${room}/join`, {}, token);
      pairs.push([token, room]);
    }
  }
  return pairs;
}

function luaScript(pairs: [string, string][]): string {
  const rows = pairs.map(([t, r]) => `{"${t}","${r}"}`).join(',\n');
  return `local pairs = {\n${rows}\n}
request = function()
  local p = pairs[math.random(#pairs)]
  return wrk.format("POST", "/v1/rooms/" .. p[2] .. "/messages",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. p[1]}, '{"content":"load test message"}')
end
done = function(s, latency, _)
  io.write(string.format("RESULT %d %d %d %d %d %d %d\\n", s.requests, s.duration, latency:percentile(50),
    latency:percentile(95), latency:percentile(99), s.errors.status,
    s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout))
end
`;
}

/**
 * The most client backends Postgres had on the app database while `work` ran, and how many it had as it began: idle
 * server connections PgBouncer keeps from before (a previous run's pgbench ceiling, until its idle timeout) count
 * too, and the first figure alone would put them on the API.
 */
async function peakServerConnections<T>(work: Promise<T>): Promise<{ result: T; peak: string }> {
  const admin = new pg.Client({ connectionString: infra.PG_URL });
  await admin.connect();
  let peak = 0;
  let atStart: number | undefined;
  let running = true;
  const sampling = (async () => {
    while (running) {
      const r = await admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'`,
      );
      const n = r.rows[0]?.n ?? 0;
      atStart ??= n;
      peak = Math.max(peak, n);
      await new Promise((res) => setTimeout(res, 200));
    }
  })();
  try {
    const result = await work;
    return { result, peak: `${peak} (${atStart ?? '?'} at start)` };
  } finally {
    running = false;
    await sampling;
    await admin.end();
  }
}

/** One statement as the superuser (the A/B switches, WAL positions). */
async function superuser<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
  const admin = new pg.Client({ connectionString: infra.PG_URL });
  await admin.connect();
  try {
    return (await admin.query<R>(sql, params)).rows;
  } finally {
    await admin.end();
  }
}

const walPosition = async () =>
  (await superuser<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))[0]?.lsn ?? '0/0';

/** Bytes of WAL written since `from` (by every process: the sends and whatever else ran). */
const walBytesSince = async (from: string) =>
  Number((await superuser<{ n: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::text AS n', [from]))[0]?.n);

function run(cmd: string, argv: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited with ${code}\n${out}`))));
  });
}

async function pgbenchCeiling(pair: [string, string], seconds: number): Promise<string> {
  const [, room] = pair;
  const admin = new pg.Client({ connectionString: infra.PG_URL });
  await admin.connect();
  const member = await admin.query<{ user_id: string }>('SELECT user_id FROM room_members WHERE room_id = $1 LIMIT 1', [
    room,
  ]);
  await admin.end();
  const script = path.join(os.tmpdir(), 'bgc-send-message.sql');
  fs.writeFileSync(
    script,
    // the statement the API sends for a send without Idempotency-Key (services/write-api/src/routes/chat.ts), for
    // one send; the API reads its Commit-LSN in the same message, once per batch of sends, so it is left out here
    `SELECT id FROM send_room_messages('{00-00000000000000000000000000000001-0000000000000001-01}'::text[],
  '{${room}}'::uuid[], '{${member.rows[0]?.user_id}}'::uuid[], '{TEXT}'::message_type[], '{pgbench}'::text[]);
`,
  );
  const writer = new URL(loadEnv({ DB_WRITER_URL: databaseEnv.DB_WRITER_URL }).DB_WRITER_URL);
  const out = await run(
    'pgbench',
    ['-n', '-M', 'simple', '-c', '50', '-j', '2', '-T', String(seconds), '-f', script]
      .concat(['-h', writer.hostname, '-p', writer.port, '-U', decodeURIComponent(writer.username)])
      .concat([writer.pathname.slice(1)]),
    { PGPASSWORD: decodeURIComponent(writer.password) },
  ).catch((err: Error) => err.message);
  return /tps = ([\d.]+)/.exec(out)?.[1] ?? `failed: ${out.slice(0, 200)}`;
}

need('wrk', 'wrk');
need('pgbench', 'postgresql-contrib');
log(`setting up ${args.users} users and ${args.rooms} rooms through ${args.url}`);
const pairs = await setUp();
const lua = path.join(os.tmpdir(), 'bgc-write-api-load.lua');
fs.writeFileSync(lua, luaScript(pairs));
const rows: string[] = [];
for (const c of args.connections.split(',').filter(Boolean).map(Number)) {
  log(`wrk: ${c} connections for ${args.duration} s`);
  const { result, peak } = await peakServerConnections(
    run('wrk', ['-t', '2', '-c', String(c), '-d', `${args.duration}s`, '--timeout', '10s', '-s', lua, args.url]),
  );
  const m = /RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(result);
  if (!m) throw new Error(`no result from wrk:\n${result}`);
  const [requests, micros, p50, p95, p99, non2xx, socketErrors] = m.slice(1).map<number>(Number);
  const rps = (requests ?? 0) / ((micros ?? 1) / 1e6);
  rows.push(
    `| ${c} | ${rps.toFixed(0)} | ${((p50 ?? 0) / 1000).toFixed(1)} | ${((p95 ?? 0) / 1000).toFixed(1)} | ` +
      `${((p99 ?? 0) / 1000).toFixed(1)} | ${non2xx} | ${socketErrors} | ${peak} |`,
  );
}
const openLoop: string[][] = [];
/** per rate: milliseconds of CPU each process used per send */
const cpuPerSend: string[] = [];
if (args.rates) {
  // the open loop's senders: the first --senders users, each a member of every room, posting to all of them in turn
  // (oha takes one Authorization header per process, so a process per sender; few senders keep the generator light)
  const tokens = [...new Set(pairs.map(([token]) => token))].slice(0, Number(args.senders));
  const rooms = [...new Set(pairs.map(([, room]) => room))];
  for (const token of tokens) for (const room of rooms) await post(`/v1/rooms/${room}/join`, {}, token);
  const senders: Sender[] = tokens.map((token) => ({
    token,
    urls: rooms.map((room) => `${args.url}/v1/rooms/${room}/messages`),
  }));
  const body = '{"content":"load test message"}';
  const generators = args.generators.split(',').filter(Boolean);
  const attackWith = loadGenerators(generators, senders, body);
  const idDefaults = args['id-defaults'].split(',').filter(Boolean);
  for (const rate of args.rates.split(',').map(Number)) {
    for (const ids of idDefaults.length > 0 ? idDefaults : [undefined]) {
      for (const generator of generators) {
        const label = `${rate}${ids ? ` (${ids})` : ''}${generators.length > 1 ? ` ${generator}` : ''}`;
        const attack = attackWith.get(generator);
        if (!attack) throw new Error(`unknown generator ${generator}: oha or vegeta`);
        if (ids) await superuser(`ALTER TABLE messages ALTER COLUMN id SET DEFAULT ${ids}()`);
        // the same full-page-image debt for each default, from before the warm-up
        if (ids) await superuser('CHECKPOINT');
        // connections open and the API's pools fill during the warm-up, which is not measured: what is measured
        // (latency, CPU, WAL, stalls) starts with the window
        log(`${generator}: ${label} requests/s for ${args.warmup} s of warm-up, then ${args.duration} s measured`);
        const measured: { begun?: ReturnType<typeof beginWindow> } = {};
        const { result: r, peak } = await peakServerConnections(
          attack(rate, Number(args.duration), Number(args.warmup), () => {
            measured.begun = beginWindow();
          }),
        );
        if (!measured.begun) throw new Error('the measured window never began');
        const { walBefore, cpuBefore, machineBefore, probe } = await measured.begun;
        const stalls = await probe.stop();
        const [cpuAfter, machineAfter] = [cpuSnapshot(), machineCpu()];
        const busy = machineAfter.busy - machineBefore.busy;
        const busyShare = busy / (machineAfter.total - machineBefore.total);
        cpuPerSend.push(
          `- ${label}/s: ${perUnit(cpuBetweenSnapshots(cpuBefore, cpuAfter), r.requests)}; ` +
            `the whole machine ${((busy * 1000) / r.requests).toFixed(2)} (${generator} included)`,
        );
        const walPerSend = ((await walBytesSince(walBefore)) / r.requests / 1024).toFixed(1);
        openLoop.push([
          label,
          r.throughput.toFixed(0),
          r.latencies.p50.toFixed(1),
          r.latencies.p90.toFixed(1),
          r.latencies.p99.toFixed(1),
          clearOfStalls(r, stalls),
          r.latencies.max.toFixed(1),
          `${(r.success * 100).toFixed(2)}%`,
          `${(busyShare * 100).toFixed(0)}%`,
          `${stalls.count} (${stalls.longestMs.toFixed(0)} ms)`,
          peak,
          walPerSend,
        ]);
      }
    }
  }
  if (idDefaults.length > 0) await superuser('ALTER TABLE messages ALTER COLUMN id SET DEFAULT uuidv7()');
}

/**
 * The p99 over the answers whose time in flight (from when the request was due to its answer) no machine stall
 * overlapped, with how many were left out: what the server's own tail is, beside the p99 of all. Stalls are
 * widened by 10 ms on each side for the clocks of oha and the probe. Answers delayed by the backlog a stall left
 * behind, after it ended, stay in. Only oha gives each answer's time; vegeta's runs read "–".
 */
function clearOfStalls(r: OpenLoopResult, stalls: Stalls): string {
  if (!r.answers) return '–';
  const clear: number[] = [];
  for (const a of r.answers) {
    if (!stalls.intervals.some((s) => a.due < s.end + 10 && a.end > s.start - 10)) clear.push(a.end - a.due);
  }
  clear.sort((a, b) => a - b);
  return `${percentile(clear, 99).toFixed(1)} (${r.answers.length - clear.length})`;
}

/** What the measured window is read against, taken as it begins. */
async function beginWindow() {
  const [cpuBefore, machineBefore, probe] = [cpuSnapshot(), machineCpu(), startStallProbe()];
  return { walBefore: await walPosition(), cpuBefore, machineBefore, probe };
}

type Attack = (rate: number, seconds: number, warmup: number, onWindowStart: () => void) => Promise<OpenLoopResult>;

/** Each generator named, as an attack over the same senders and body. */
function loadGenerators(names: string[], senders: Sender[], body: string) {
  const out = new Map<string, Attack>();
  if (names.includes('oha')) {
    const bin = ohaBinary(log);
    out.set('oha', (rate, seconds, warmup, onWindowStart) =>
      postAtRate(bin, senders, body, rate, seconds, { warmupSeconds: warmup, onWindowStart }),
    );
  }
  if (names.includes('vegeta')) {
    const bin = vegetaBinary(log);
    const targets = path.join(os.tmpdir(), 'bgc-write-api-targets.jsonl');
    const all = senders.flatMap((s) => s.urls.map((url) => ({ token: s.token, url })));
    writeTargets(
      targets,
      Array.from({ length: 20_000 }, () => {
        const { token, url } = all[Math.floor(Math.random() * all.length)] ?? { token: '', url: '' };
        return {
          method: 'POST',
          url,
          header: { 'Content-Type': ['application/json'], Authorization: [`Bearer ${token}`] },
          body,
        };
      }),
    );
    // vegeta reports no time per request: its warm-up is a run of its own, on connections of its own
    out.set('vegeta', async (rate, seconds, warmup, onWindowStart) => {
      if (warmup > 0) await attack(bin, targets, rate, warmup);
      onWindowStart();
      const r = await attack(bin, targets, rate, seconds);
      const ms = (ns: number) => ns / 1e6;
      return {
        requests: r.requests,
        throughput: r.throughput,
        success: r.success,
        latencies: {
          p50: ms(r.latencies['50th']),
          p90: ms(r.latencies['90th']),
          p99: ms(r.latencies['99th']),
          max: ms(r.latencies.max),
        },
      };
    });
  }
  return out;
}
const ceiling = await pgbenchCeiling(pairs[0] ?? ['', ''], 10);
process.stdout.write(`
method: wrk -t2 (C), closed loop, ${args.duration} s per level, POST /v1/rooms/:id/messages as a random member of a
random room (${pairs.length} member/room pairs); latency from wrk's histogram; peak = most client backends on the
app database in pg_stat_activity, sampled every 200 ms, beside how many there were as the level or rate began
(PgBouncer's idle server connections from before, such as an earlier run's pgbench, count until they time out);
everything on this ${os.cpus().length}-core machine.

| connections | requests/s | p50 ms | p95 ms | p99 ms | non-2xx | socket errors | peak server connections |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

${
  openLoop.length > 0
    ? `open loop (${args.generators}, ${args.duration} s per rate after ${args.warmup} s of warm-up at it, ${args.senders} senders, ≤ 256
connections, 5 s timeout; latency from each request's scheduled start; busy = the whole machine's CPU in use; stalls = times an
idle probe thread woke over 20 ms late, the machine itself stalled, not the server; p99 clear of stalls = over the
answers no stall overlapped while in flight, with how many were left out):

${table(['offered/s', 'achieved/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99 ms clear of stalls (left out)', 'max ms', 'success', 'busy', 'stalls (longest)', 'peak server connections', 'WAL KiB/send'], openLoop)}

CPU per send (ms), by process, while each rate ran (from /proc; a generator that exits is counted in the whole machine only):
${cpuPerSend.join('\n')}

`
    : ''
}ceiling: pgbench, the API's statement (trace message and insert-if-member, autocommitted) straight to PgBouncer,
50 clients, 10 s: ${ceiling} tps
`);
