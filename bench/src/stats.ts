/** Timing and percentiles for the benchmarks (nearest-rank percentiles over all samples, in milliseconds). */
import { spawn } from 'node:child_process';
import pg from 'pg';
import { withDatabase } from '@bgc/config/database';
import { defaultMigratorUrl } from './db.ts';

export interface Summary {
  n: number;
  median: number;
  p95: number;
  p99: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(samples: readonly number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, median: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99) };
}

/** 0.123 / 12.3 / 1234: three significant-ish digits, ms. */
export const ms = (x: number) => (Number.isNaN(x) ? '—' : x < 1 ? x.toFixed(3) : x < 100 ? x.toFixed(2) : x.toFixed(0));

export async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** A fixed-width table for the console and for pasting into bench/README.md. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export async function connect(args: { db?: string; url?: string }): Promise<{ client: pg.Client; url: string }> {
  const url = args.db ? withDatabase(defaultMigratorUrl(), args.db) : (args.url ?? defaultMigratorUrl());
  const client = new pg.Client({ connectionString: url, application_name: 'bgc-bench' });
  await client.connect();
  await client.query('SET statement_timeout = 0');
  return { client, url };
}

/** Runs a program (pgbench), returning its stdout; stderr is passed through. */
export function runProgram(cmd: string, argv: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${argv.join(' ')} exited ${code}: ${err.slice(-2000)}`)),
    );
  });
}

/** libpq environment (PGHOST…) for a postgres:// URL, for command-line tools. */
export function libpqEnv(url: string): NodeJS.ProcessEnv {
  const u = new URL(url);
  return {
    PGHOST: u.hostname,
    PGPORT: u.port || '5432',
    PGUSER: decodeURIComponent(u.username),
    PGPASSWORD: decodeURIComponent(u.password),
    PGDATABASE: decodeURIComponent(u.pathname.slice(1)),
  };
}
