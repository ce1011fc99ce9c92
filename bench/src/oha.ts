/**
 * Open-loop HTTP load with oha (Rust, crates.io), several senders at once: each sender is one oha process with its
 * own bearer token and the URLs its user may post to, at its share of the rate. With `-q` and
 * `--latency-correction` a request's latency counts from when it was due, not from when a connection was free, so
 * queueing shows as it does with vegeta; `-w` lets the requests still running at the end finish.
 *
 * Why not vegeta alone: at 1,500 requests/s vegeta took 0.21 ms of CPU per request on this 2-core machine, more
 * than a bare Node.js HTTP server answering it (0.16), a seventh of the machine taken from the server under test;
 * oha takes 0.09. oha sends one set of headers per process, hence a process per sender. Every request's latency
 * is read back from the SQLite file each process writes at its end (`--db-url`, successes only), so percentiles
 * are over all requests, not averaged across processes.
 *
 * Built once into ~/.cache/bgc-replica/oha with cargo when missing (a few minutes).
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { percentile, runProgram } from './stats.ts';

const VERSION = '1.16.0';

export function ohaBinary(log: (line: string) => void): string {
  const root = path.join(os.homedir(), '.cache/bgc-replica/oha');
  const bin = path.join(root, 'bin/oha');
  if (fs.existsSync(bin)) return bin;
  try {
    execFileSync('cargo', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('oha is missing and cargo is not installed: install Rust (rustup.rs), or pass --generators vegeta');
  }
  log(`building oha ${VERSION} from crates.io into ${root} (a few minutes, once)`);
  execFileSync('cargo', ['install', 'oha', '--locked', '--version', VERSION, '--root', root], { stdio: 'inherit' });
  return bin;
}

/** One sender: its token and the URLs it posts to (in turn). */
export interface Sender {
  token: string;
  urls: string[];
}

export interface OpenLoopResult {
  /** requests sent, answered or not */
  requests: number;
  /** 2xx answers per second of the run */
  throughput: number;
  /** share of requests answered 2xx */
  success: number;
  /** milliseconds, from each request's due time, over the 2xx answers */
  latencies: { p50: number; p90: number; p99: number; max: number };
  /** each 2xx answer's due time and end, wall-clock milliseconds (epoch; oha's start taken as its spawn) */
  answers?: { due: number; end: number }[];
}

/**
 * POSTs `body` at `rate` requests/s for `warmupSeconds` then `seconds`, shared evenly among the senders, and
 * reports the answers to the requests due after the warm-up. One oha process per sender runs both: the measured
 * requests go over connections the warm-up opened, as a sustained load's do (a fresh oha opens all its connections
 * in its first few hundred milliseconds, and those requests waited 40-160 ms: up to three quarters of the 1% a p99
 * allows). `onWindowStart` is called when the measured window begins.
 */
export async function postAtRate(
  bin: string,
  senders: readonly Sender[],
  body: string,
  rate: number,
  seconds: number,
  opts: { maxConnections?: number; timeoutSeconds?: number; warmupSeconds?: number; onWindowStart?: () => void } = {},
): Promise<OpenLoopResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-oha-'));
  const warmup = opts.warmupSeconds ?? 0;
  const windowTimer = setTimeout(() => opts.onWindowStart?.(), warmup * 1000);
  try {
    const connections = Math.max(1, Math.floor((opts.maxConnections ?? 256) / senders.length));
    const runs = senders.map(async (sender, i) => {
      const urls = path.join(dir, `urls-${i}.txt`);
      fs.writeFileSync(urls, `${sender.urls.join('\n')}\n`);
      const db = path.join(dir, `run-${i}-${crypto.randomUUID()}.db`);
      const spawnedAt = Date.now(); // oha's times count from its own start, a few ms after this
      const out = await runProgram(
        bin,
        ['-z', `${warmup + seconds}s`, '-q', String(rate / senders.length), '--latency-correction', '-w', '--no-tui']
          .concat(['-c', String(connections), '-t', `${opts.timeoutSeconds ?? 5}s`, '-m', 'POST'])
          .concat(['-T', 'application/json', '-d', body, '-H', `Authorization: Bearer ${sender.token}`])
          .concat(['--urls-from-file', urls, '--db-url', db, '--output-format', 'json']),
        process.env,
      );
      const report = JSON.parse(out) as { errorDistribution: Record<string, number> };
      const failed = Object.values(report.errorDistribution).reduce((a, b) => a + b, 0);
      const results = new DatabaseSync(db, { readOnly: true });
      const rows = results
        .prepare('SELECT coalesce(start_latency_correction, start) AS due, "end", duration, status FROM oha')
        .all() as { due: number; end: number; duration: number; status: number }[];
      results.close();
      const measured = rows.filter((r) => r.due >= warmup);
      const ok = measured.filter((r) => r.status >= 200 && r.status < 300);
      const answers = ok.map((r) => ({ due: spawnedAt + r.due * 1000, end: spawnedAt + r.end * 1000 }));
      // requests that got no answer are not in the file: all of them count as the window's, whenever they were due
      return { requests: measured.length + failed, durations: ok.map((r) => r.duration), answers };
    });
    const done = await Promise.all(runs);
    const ok = done.flatMap((d) => d.durations);
    const sorted = ok.map((s) => s * 1000).sort((a, b) => a - b);
    const requests = done.reduce((n, d) => n + d.requests, 0);
    return {
      requests,
      throughput: ok.length / seconds,
      success: requests === 0 ? 0 : ok.length / requests,
      latencies: {
        p50: percentile(sorted, 50),
        p90: percentile(sorted, 90),
        p99: percentile(sorted, 99),
        max: sorted.at(-1) ?? NaN,
      },
      answers: done.flatMap((d) => d.answers),
    };
  } finally {
    clearTimeout(windowTimer);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
