/**
 * Progress for long steps whose total is unknown up front (a Go build, a Maven download): the duration of the
 * previous run on this machine, kept in the cache, stands in for the total, so the bar shows percent, elapsed time
 * and an ETA. On a terminal the bar redraws in place; in a log (CI) a line is printed every 20 s.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CACHE_DIR } from './settings.ts';

const timingsFile = path.join(CACHE_DIR, 'step-timings.json');

function readTimings(): Record<string, number> {
  try {
    return JSON.parse(fs.readFileSync(timingsFile, 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}

export const fmt = (ms: number) => {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${(ms / 1000).toFixed(1)}s`;
};

export async function withProgress<T>(key: string, label: string, firstGuessMs: number, work: () => Promise<T>) {
  const expected = readTimings()[key] ?? firstGuessMs;
  const started = Date.now();
  const tty = process.stderr.isTTY;
  let lastLine = 0;
  const draw = () => {
    const elapsed = Date.now() - started;
    const ratio = Math.min(elapsed / expected, 0.99);
    const width = 24;
    const filled = Math.round(ratio * width);
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(ratio * 100)).padStart(2)}%`;
    const eta = elapsed < expected ? `ETA ~${fmt(expected - elapsed)}` : 'taking longer than last time';
    const line = `  ${label} ${bar} ${fmt(elapsed)} elapsed, ${eta}`;
    if (tty) process.stderr.write(`\r${line.padEnd(110)}`);
    else if (Date.now() - lastLine >= 20_000) {
      process.stderr.write(`${line}\n`);
      lastLine = Date.now();
    }
  };
  draw();
  const timer = setInterval(draw, tty ? 500 : 1000);
  try {
    const result = await work();
    const took = Date.now() - started;
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    fs.writeFileSync(timingsFile, JSON.stringify({ ...readTimings(), [key]: took }, null, 2));
    if (tty) process.stderr.write('\r'.padEnd(112) + '\r');
    process.stderr.write(`  ${label} done in ${fmt(took)}\n`);
    return result;
  } finally {
    clearInterval(timer);
  }
}
