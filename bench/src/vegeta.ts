/**
 * Open-loop HTTP load with vegeta (Go): requests leave on schedule at a fixed rate whatever the answers' latency, so
 * queueing shows in the latencies (a closed-loop tool such as wrk waits for each answer before the next request and
 * hides it). Built once from the Go module proxy into ~/.cache/bgc-replica/gobin when missing.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runProgram } from './stats.ts';

const MODULE = 'github.com/tsenart/vegeta/v12@v12.12.0';

export interface VegetaReport {
  /** nanoseconds */
  latencies: { '50th': number; '90th': number; '95th': number; '99th': number; max: number; mean: number };
  requests: number;
  rate: number;
  throughput: number;
  success: number;
  status_codes: Record<string, number>;
  bytes_in?: { total: number; mean: number };
}

/** A report's cells for the benches' tables: achieved/s, p50, p90, p99 and max ms, success. */
export function reportCells(report: VegetaReport): string[] {
  const ms = (ns: number) => (ns / 1e6).toFixed(2);
  const l = report.latencies;
  return [
    report.throughput.toFixed(0),
    ms(l['50th']),
    ms(l['90th']),
    ms(l['99th']),
    ms(l.max),
    `${(report.success * 100).toFixed(2)}%`,
  ];
}

export interface VegetaTarget {
  method: string;
  url: string;
  header?: Record<string, string[]>;
  body?: string;
}

export function vegetaBinary(log: (line: string) => void): string {
  const bin = path.join(os.homedir(), '.cache/bgc-replica/gobin/vegeta');
  if (fs.existsSync(bin)) return bin;
  log(`building vegeta (${MODULE}) into ${path.dirname(bin)}`);
  execFileSync('go', ['install', MODULE], { stdio: 'inherit', env: { ...process.env, GOBIN: path.dirname(bin) } });
  return bin;
}

/** Writes targets in vegeta's JSON format (a body is given as text and sent base64, as vegeta wants it). */
export function writeTargets(file: string, targets: Iterable<VegetaTarget>): void {
  const lines: string[] = [];
  for (const t of targets) {
    lines.push(JSON.stringify({ ...t, ...(t.body ? { body: Buffer.from(t.body).toString('base64') } : {}) }));
  }
  // every line ends with a newline: vegeta drops a last line without one (a file of one target has none to attack)
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}

export async function attack(
  bin: string,
  targets: string,
  rate: number,
  seconds: number,
  opts: { timeoutSeconds?: number; maxConnections?: number } = {},
): Promise<VegetaReport> {
  const out = path.join(os.tmpdir(), `bgc-vegeta-${crypto.randomUUID()}.bin`);
  try {
    await runProgram(
      bin,
      ['attack', '-format=json', `-targets=${targets}`, `-rate=${rate}/s`, `-duration=${seconds}s`]
        .concat([`-timeout=${opts.timeoutSeconds ?? 5}s`, `-max-connections=${opts.maxConnections ?? 256}`])
        .concat([`-output=${out}`]),
      process.env,
    );
    return JSON.parse(await runProgram(bin, ['report', '-type=json', out], process.env)) as VegetaReport;
  } finally {
    fs.rmSync(out, { force: true });
  }
}
