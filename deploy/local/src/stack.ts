/**
 * The local stack as one unit: install what is missing, start every component in dependency order (independent
 * ones in parallel), stop only what we started, report health. The test kit's global setup calls `up()` too.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Component, Health } from './component.ts';
import { PgBouncer } from './components/pgbouncer.ts';
import { PostgresPrimary, PostgresReplica } from './components/postgres.ts';
import { Jaeger } from './components/jaeger.ts';
import { KafkaBroker } from './components/kafka.ts';
import { Prometheus } from './components/prometheus.ts';
import { NodeService } from './components/node-service.ts';
import { RedisCache, RedisStore } from './components/redis.ts';
import { StackError } from './errors.ts';
import { ensureAptPackages } from './install.ts';
import { isAlive, waitUntil } from './proc.ts';
import { OUTSIDE_ROOT } from './service-dirs.ts';
import { fmt } from './progress.ts';
import { RUN_DIR, STATE_DIR } from './settings.ts';

export const components: readonly Component[] = [
  new PostgresPrimary(),
  new PostgresReplica(),
  new PgBouncer(),
  new RedisCache(),
  new RedisStore(),
  new KafkaBroker(),
  new Jaeger(),
  new Prometheus(),
];

/**
 * The HTTP APIs run without V8's memory reducer. When load resumes after an idle spell, the reducer's full GC
 * (logged by --trace-gc as `Mark-Compact (reduce)`) stopped the write API for 91 and 100 ms, then shrank its young
 * generation so that a second of small scavenges followed: in one run 1,900 requests over 50 ms at 1,500 sends/s, more
 * than the 1% a p99 allows (3%; bench/README.md, session 11). Without it the heap keeps its working size while idle.
 */
const API_NODE_FLAGS = ['--no-memory-reducer'];

/** The project's services, started by `./bgc start` (not by the tests, which start their own). */
export const services: readonly NodeService[] = [
  new NodeService({
    name: 'write-api',
    port: 23000,
    after: ['pgbouncer', 'jaeger'],
    env: { BGC_WRITE_API_PORT: '23000' },
    nodeFlags: API_NODE_FLAGS,
  }),
  new NodeService({
    name: 'cdc',
    port: 23100,
    after: ['postgres', 'kafka', 'jaeger'],
    env: { BGC_CDC_METRICS_PORT: '23100' },
  }),
  new NodeService({
    name: 'cache-projector',
    port: 23200,
    after: ['kafka', 'redis', 'jaeger'],
    env: { BGC_PROJECTOR_METRICS_PORT: '23200' },
  }),
  new NodeService({
    name: 'feed-builder',
    port: 23400,
    after: ['replica', 'kafka', 'redis', 'redis-store', 'jaeger'],
    env: { BGC_FEED_METRICS_PORT: '23400' },
  }),
  new NodeService({
    name: 'read-api',
    port: 23300,
    after: ['replica', 'redis', 'redis-store', 'jaeger'],
    env: { BGC_READ_API_PORT: '23300' },
    nodeFlags: API_NODE_FLAGS,
  }),
  new NodeService({
    name: 'partition-maintainer',
    port: 23090,
    after: ['postgres'],
    env: { BGC_PARTITION_MAINTAINER_METRICS_PORT: '23090' },
  }),
];

export type Log = (line: string) => void;
const quiet: Log = () => undefined;

export class StackFailed extends Error {
  readonly failures: readonly StackError[];
  constructor(failures: StackError[]) {
    super(`the stack did not come up:\n${failures.map((f) => f.describe()).join('\n')}`);
    this.name = 'StackFailed';
    this.failures = failures;
  }
}

/** Idempotent. Resolves when every component is healthy; otherwise throws StackFailed naming each broken piece. */
export async function up(
  log: Log = quiet,
  opts: { withServices?: boolean } = {},
): Promise<{ started: string[]; running: string[] }> {
  await using _lock = await acquireLock(log);
  const all: readonly Component[] = opts.withServices ? [...components, ...services] : components;
  await ensureAptPackages(components.flatMap((c) => c.apt));
  const prepared = await Promise.allSettled(all.map(async (c) => c.prepare?.()));
  const failures: StackError[] = [];
  prepared.forEach((p) => p.status === 'rejected' && failures.push(asStackError('install', p.reason)));
  if (failures.length > 0) throw new StackFailed(failures);

  const started: string[] = [];
  const running: string[] = [];
  const done = new Map<string, Promise<void>>();
  const startOne = (c: Component): Promise<void> => {
    let p = done.get(c.name);
    if (p) return p;
    p = (async () => {
      await Promise.all(c.after.map((name) => startOne(byName(name))));
      const t0 = Date.now();
      const outcome = await c.start();
      const health = await waitHealthy(c);
      if (!health.ok) {
        throw new StackError({
          code: 'UNHEALTHY',
          component: c.name,
          message: health.detail,
          fix: `./bgc stack logs ${c.name}`,
        });
      }
      (outcome === 'started' ? started : running).push(c.name);
      log(
        `  ✔ ${c.name.padEnd(11)} ${outcome === 'started' ? `started in ${fmt(Date.now() - t0)}` : 'already running'}  ${c.address}  ${health.detail}`,
      );
    })();
    done.set(c.name, p);
    return p;
  };
  const results = await Promise.allSettled(all.map(startOne));
  results.forEach((r, i) => {
    if (r.status === 'rejected') {
      const name = all[i]?.name ?? '?';
      // a component whose dependency failed reports that failure again; keep the first
      if (!failures.some((f) => f.message === (r.reason as Error).message)) failures.push(asStackError(name, r.reason));
    }
  });
  if (failures.length > 0) throw new StackFailed(failures);
  return { started, running };
}

/** Stops what this stack started, dependents first. */
export async function down(log: Log = quiet): Promise<string[]> {
  const stopped: string[] = [];
  for (const c of [...components, ...services].reverse()) {
    if (await c.stop()) {
      stopped.push(c.name);
      log(`  ■ ${c.name} stopped`);
    }
  }
  return stopped;
}

/** Stops everything and deletes all data; caches (jars, the Jaeger build) stay. */
export async function reset(log: Log = quiet): Promise<void> {
  await down(log);
  fs.rmSync(OUTSIDE_ROOT, { recursive: true, force: true });
  fs.rmSync(STATE_DIR, { recursive: true, force: true });
  log(`  ✖ removed ${STATE_DIR}`);
}

export async function status(): Promise<{ name: string; address: string; health: Health }[]> {
  return Promise.all(components.map(async (c) => ({ name: c.name, address: c.address, health: await c.health() })));
}

function byName(name: string): Component {
  const c = [...components, ...services].find((x) => x.name === name);
  if (!c) throw new Error(`unknown component ${name}`);
  return c;
}

async function waitHealthy(c: Component): Promise<Health> {
  let last: Health = { ok: false, detail: 'not checked' };
  await waitUntil(
    async () => {
      last = await c.health();
      return last.ok;
    },
    { timeoutMs: 60_000, intervalMs: 300 },
  );
  return last;
}

function asStackError(component: string, err: unknown): StackError {
  if (err instanceof StackError) return err;
  return new StackError({
    code: 'UNEXPECTED',
    component,
    message: err instanceof Error ? err.message : String(err),
    fix: 'this is a bug in the stack manager; the message above says where',
    cause: err,
  });
}

/** One `up` at a time per state folder (a test run and a developer may start it together). */
async function acquireLock(log: Log): Promise<AsyncDisposable> {
  fs.mkdirSync(RUN_DIR, { recursive: true });
  const file = path.join(RUN_DIR, 'up.lock');
  let announced = false;
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return { [Symbol.asyncDispose]: () => Promise.resolve(fs.rmSync(file, { force: true })) };
    } catch {
      const holder = Number(fs.readFileSync(file, 'utf8') || 0);
      if (!holder || !isAlive(holder)) {
        fs.rmSync(file, { force: true });
        continue;
      }
      if (!announced) log(`  … waiting for another "stack up" (pid ${holder}) to finish`);
      announced = true;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
