/**
 * Fills a database with a generated, skewed, realistic world for benchmarks and plan tests.
 *
 *   node bench/generate.ts [--scale tiny|small|medium|large|full] [--seed N] [--now ISO]
 *                          [--db NAME [--reset] | --url URL] [--jobs N] [--defer-indexes]
 *                          [--users N --rooms N --conversations N --messages N --status-updates N --threads N
 *                           --forum-posts N]   (explicit counts override the scale's)
 *
 * --db NAME creates that database (as the superuser of BGC_PG_URL) and sets it up like production: roles,
 * privileges, migrations, partitions; --reset drops it first. Without --db, --url (default: the migrator on the
 * platform database, BGC_DB_MIGRATOR_URL) must point at a migrated database with no users yet. Progress goes to
 * stderr, the report (rows and seconds per table) to stdout. --defer-indexes (only with --db) drops the secondary
 * indexes, unique constraints and foreign keys for the load and rebuilds them after (src/defer.ts); by default
 * everything stays in place, as in production.
 */
import cliProgress from 'cli-progress';
import { redactUrl } from '@bgc/config/env';
import { defaultMigratorUrl, prepareDatabase } from './src/db.ts';
import { generate } from './src/generate.ts';
import type { Counts } from './src/world.ts';
import { isScale, makeWorld, SCALES } from './src/world.ts';
import { benchArgs } from './src/cli-args.ts';

const { values: args } = benchArgs({
  options: {
    scale: { type: 'string', default: 'tiny' },
    seed: { type: 'string', default: '42' },
    now: { type: 'string' },
    db: { type: 'string' },
    reset: { type: 'boolean', default: false },
    url: { type: 'string' },
    jobs: { type: 'string', default: '3' },
    'defer-indexes': { type: 'boolean', default: false },
    users: { type: 'string' },
    rooms: { type: 'string' },
    conversations: { type: 'string' },
    messages: { type: 'string' },
    'status-updates': { type: 'string' },
    threads: { type: 'string' },
    'forum-posts': { type: 'string' },
  },
});

function int(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${value}`);
  return n;
}

if (!isScale(args.scale)) throw new Error(`--scale must be one of ${Object.keys(SCALES).join(', ')}`);
const base: Counts = SCALES[args.scale];
const counts: Counts = {
  users: int('users', args.users, base.users),
  rooms: int('rooms', args.rooms, base.rooms),
  conversations: int('conversations', args.conversations, base.conversations),
  messages: int('messages', args.messages, base.messages),
  statusUpdates: int('status-updates', args['status-updates'], base.statusUpdates),
  threads: int('threads', args.threads, base.threads),
  forumPosts: int('forum-posts', args['forum-posts'], base.forumPosts),
};
const now = args.now ? Date.parse(args.now) : Date.now();
if (Number.isNaN(now)) throw new Error(`--now must be an ISO timestamp, got ${args.now}`);
const world = makeWorld(int('seed', args.seed, 42), now, counts);

if (args['defer-indexes'] && !args.db) throw new Error('--defer-indexes only with --db (a database of its own)');
const url = args.db ? await prepareDatabase(args.db, { reset: args.reset }) : (args.url ?? defaultMigratorUrl());
const err = (s: string) => process.stderr.write(`${s}\n`);
err(`generating scale ${args.scale} (seed ${world.seed}) into ${redactUrl(url)}: ${JSON.stringify(world.counts)}`);

const bar = new cliProgress.SingleBar(
  {
    stream: process.stderr,
    format: '{bar} {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta_formatted} | {tables}',
    etaBuffer: 50,
    fps: 5,
    noTTYOutput: true,
    notTTYSchedule: 5000,
    hideCursor: true,
  },
  cliProgress.Presets.shades_classic,
);
// the rate over the last ~5 s
const window: { t: number; rows: number }[] = [];
let sent = 0;
const report = await generate({
  url,
  world,
  jobs: int('jobs', args.jobs, 3),
  deferIndexes: args['defer-indexes'],
  log: err,
  onStart: (total) => bar.start(total, 0, { rate: 0, tables: '' }),
  onRows: (n, active) => {
    sent += n;
    const t = performance.now();
    window.push({ t, rows: sent });
    while (window.length > 2 && t - window[0]!.t > 5000) window.shift();
    const first = window[0]!;
    const rate = t > first.t ? Math.round(((sent - first.rows) * 1000) / (t - first.t)) : 0;
    bar.update(sent, { rate: rate.toLocaleString('en-US'), tables: active.join(', ') });
  },
}).finally(() => bar.stop());

const rows = report.tables.reduce((a, t) => a + t.rows, 0);
for (const t of report.tables) {
  const rate = t.seconds > 0 ? Math.round(t.rows / t.seconds) : 0;
  process.stdout.write(
    `${t.table.padEnd(26)} ${t.rows.toLocaleString('en-US').padStart(12)} rows ${t.seconds.toFixed(1).padStart(7)} s ${rate.toLocaleString('en-US').padStart(10)} rows/s\n`,
  );
}
process.stdout.write(
  `total ${rows.toLocaleString('en-US')} rows in ${report.seconds.toFixed(1)} s (${Math.round(rows / report.seconds).toLocaleString('en-US')} rows/s${report.rebuildSeconds === null ? '' : `, rebuilding indexes and keys ${report.rebuildSeconds.toFixed(1)} s`}, ANALYZE ${report.analyzeSeconds.toFixed(1)} s)\n`,
);
