/**
 * Per-test-file isolation on the shared stack: a database of its own (created on the primary, visible on the
 * replica), a Kafka topic prefix and a Redis key prefix (on both Redis servers). Everything is removed on dispose:
 *
 *   await using ctx = await openTestContext('replica');
 */
import crypto from 'node:crypto';
import { setTimeout } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { inject } from 'vitest';
import { databaseEnv, withDatabase } from '@bgc/config/database';
import { loadEnv } from '@bgc/config/env';
import { bootstrapDatabase } from '@bgc/db/bootstrap';
import { migrate } from '@bgc/db/migrate';
import type { StackEndpoints } from './stack-provider.ts';

export type DbRole = 'migrator' | 'writer' | 'reader' | 'cdc';

export interface TestContextOptions {
  /** Apply every migration to the context's database (as the migrator role), as production would be. */
  migrated?: boolean;
}

export interface TestContext extends AsyncDisposable {
  readonly id: string;
  readonly database: string;
  /** URLs of the shared services, pointed at this context's database. */
  readonly urls: StackEndpoints;
  /** Every topic this context creates starts with it; they are deleted on dispose. */
  readonly topicPrefix: string;
  /** Every Redis key this context writes starts with it; they are deleted on dispose, on both servers. */
  readonly redisPrefix: string;
  kafka(clientId?: string): Kafka;
  /** A client on the cache Redis (evicting, not persisted). */
  redis(): Redis;
  /** A client on the store Redis (noeviction, append-only file). */
  redisStore(): Redis;
  /** A client on this context's database: 'primary' (direct), 'replica', or 'pooler' (PgBouncer). */
  pg(target?: 'primary' | 'replica' | 'pooler'): Promise<pg.Client>;
  /** The URL a role connects with (migrator/cdc: primary, writer: PgBouncer, reader: replica), on this database. */
  roleUrl(role: DbRole): string;
  /** A client connected as that role (the replica may need a moment to see a new database). */
  connectAs(role: DbRole): Promise<pg.Client>;
}

/** The stack's endpoints; fails clearly when a test file's name does not ask for the stack. */
export function stackEndpoints(): StackEndpoints {
  const stack = inject('stack') as StackEndpoints | undefined;
  if (!stack) {
    throw new Error(
      'this test needs the local stack, but its file is in the unit project: name it *.pg.test.ts, *.kafka.test.ts, ' +
        '*.redis.test.ts, *.jaeger.test.ts, *.prom.test.ts or *.stack.test.ts (see vitest.config.ts)',
    );
  }
  return stack;
}

const roleUrls = loadEnv(databaseEnv);
const roleKeys = {
  migrator: 'DB_MIGRATOR_URL',
  writer: 'DB_WRITER_URL',
  reader: 'DB_READER_URL',
  cdc: 'DB_CDC_URL',
} as const;

async function connectWithRetry(url: string, retry: boolean): Promise<pg.Client> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      return client;
    } catch (err) {
      // a fresh database reaches the replica through WAL replay: wait for it rather than fail
      if (!retry || Date.now() > deadline) throw err;
      await setTimeout(50);
    }
  }
}

/** Deletes every key under the prefix on one Redis server. */
async function unlinkPrefixed(url: string, prefix: string): Promise<void> {
  const cleanup = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await cleanup.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await cleanup.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    cleanup.disconnect();
  }
}

export async function openTestContext(name: string, options: TestContextOptions = {}): Promise<TestContext> {
  const stack = stackEndpoints();
  const id = `${name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 30)}_${crypto.randomBytes(4).toString('hex')}`;
  const database = `t_${id}`;
  const admin = new pg.Client({ connectionString: withDatabase(stack.pgUrl, 'postgres') });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${database}"`);
  await admin.end();
  if (options.migrated) {
    const onDb = new pg.Client({ connectionString: withDatabase(stack.pgUrl, database) });
    await onDb.connect();
    await bootstrapDatabase(onDb, roleUrls).finally(() => onDb.end());
    await migrate({ databaseUrl: withDatabase(roleUrls.DB_MIGRATOR_URL, database), direction: 'up' });
  }

  const urls: StackEndpoints = {
    ...stack,
    pgUrl: withDatabase(stack.pgUrl, database),
    pgReplicaUrl: withDatabase(stack.pgReplicaUrl, database),
    pgPoolerUrl: withDatabase(stack.pgPoolerUrl, database),
  };
  const roleUrl = (role: DbRole) => withDatabase(roleUrls[roleKeys[role]], database);
  const topicPrefix = `t.${id}.`;
  const redisPrefix = `t:${id}:`;
  const opened: { end(): Promise<unknown> }[] = [];
  const redises: Redis[] = [];

  return {
    id,
    database,
    urls,
    topicPrefix,
    redisPrefix,
    kafka(clientId = id) {
      return new Kafka({ brokers: stack.kafkaBrokers, clientId, logLevel: logLevel.WARN });
    },
    redis() {
      const r = new Redis(stack.redisUrl, { maxRetriesPerRequest: 1 });
      redises.push(r);
      return r;
    },
    redisStore() {
      const r = new Redis(stack.redisStoreUrl, { maxRetriesPerRequest: 1 });
      redises.push(r);
      return r;
    },
    async pg(target = 'primary') {
      const url = { primary: urls.pgUrl, replica: urls.pgReplicaUrl, pooler: urls.pgPoolerUrl }[target];
      const client = await connectWithRetry(url, target === 'replica');
      opened.push(client);
      return client;
    },
    roleUrl,
    async connectAs(role) {
      const client = await connectWithRetry(roleUrl(role), role === 'reader');
      opened.push(client);
      return client;
    },
    async [Symbol.asyncDispose]() {
      await Promise.allSettled(opened.map((c) => c.end()));
      await Promise.all([stack.redisUrl, stack.redisStoreUrl].map((url) => unlinkPrefixed(url, redisPrefix)));
      redises.forEach((r) => r.disconnect());
      const kadmin = new Kafka({
        brokers: stack.kafkaBrokers,
        clientId: `${id}-cleanup`,
        logLevel: logLevel.WARN,
      }).admin();
      await kadmin.connect();
      const topics = (await kadmin.listTopics()).filter((t) => t.startsWith(topicPrefix));
      if (topics.length > 0) await kadmin.deleteTopics({ topics });
      await kadmin.disconnect();
      const dropper = new pg.Client({ connectionString: withDatabase(stack.pgUrl, 'postgres') });
      await dropper.connect();
      // a database with logical replication slots cannot be dropped, not even WITH (FORCE): stop their readers first
      await dropper.query(
        `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL`,
        [database],
      );
      for (let attempt = 0; ; attempt++) {
        try {
          await dropper.query(
            `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`,
            [database],
          );
          break;
        } catch (err) {
          if (attempt >= 50) throw err; // "slot is active": its walsender is still exiting
          await setTimeout(100);
        }
      }
      await dropper.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      await dropper.end();
    },
  };
}
