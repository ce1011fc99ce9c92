/**
 * Operators' consistency check: `node services/cache-projector/src/audit-cli.ts [--sample N | --all]`. Compares the
 * Redis projections with Postgres (`audit.ts`), prints every mismatch, exits 1 when there is any, 0 otherwise.
 * Reads Postgres as BGC_DB_READER_URL (set it to the primary to rule out replica lag) and Redis at BGC_REDIS_URL (or
 * the Redis Cluster at BGC_PROJECTOR_REDIS_CLUSTER_NODES, as the projector does), in the live generation (the pointer in BGC_REDIS_STORE_URL: after a rebuild the projections live under a new prefix).
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { generationPrefix, readGenerations } from '@bgc/cache/generation';
import { keyspace } from '@bgc/cache/keys';
import { connectCacheRedis } from '@bgc/cache/redis-client';
import { databaseEnv } from '@bgc/config/database';
import { loadEnvOrExit } from '@bgc/config/env';
import { projectorEnv } from './config.ts';
import { audit } from './audit.ts';

const { values: args } = parseArgs({
  options: {
    sample: { type: 'string', default: '1000' },
    all: { type: 'boolean', default: false },
    'settle-ms': { type: 'string', default: '2000' },
  },
});
const config = loadEnvOrExit({ ...projectorEnv, DB_READER_URL: databaseEnv.DB_READER_URL });
const db = new pg.Client({ connectionString: config.DB_READER_URL });
const redis = connectCacheRedis({
  url: config.REDIS_URL,
  clusterNodes: config.PROJECTOR_REDIS_CLUSTER_NODES,
  maxRetriesPerRequest: 3,
});
const store = new Redis(config.REDIS_STORE_URL, { maxRetriesPerRequest: 3 });
try {
  await db.connect();
  await redis.connect();
  const base = config.PROJECTOR_KEY_PREFIX;
  const { live } = await readGenerations(store, base);
  process.stdout.write(`auditing generation ${live || '(first, unnamed)'}\n`);
  const result = await audit(db, redis, keyspace(generationPrefix(base, live)), {
    ...(args.all ? {} : { sample: Number(args.sample) }),
    recentMessages: config.PROJECTOR_RECENT_MESSAGES,
    settleMs: Number(args['settle-ms']),
    rechecks: 3,
  });
  for (const m of result.mismatches) {
    process.stdout.write(
      `MISMATCH ${m.key}\n  postgres: ${JSON.stringify(m.expected)}\n  redis:    ${JSON.stringify(m.found)}\n`,
    );
  }
  process.stdout.write(
    `${result.checked} projections of ${result.users} users, ${result.rooms} rooms, ${result.conversations} ` +
      `conversations and ${result.categories} forum categories checked: ${result.mismatches.length} mismatch(es)\n`,
  );
  process.exitCode = result.mismatches.length > 0 ? 1 : 0;
} catch (err) {
  process.stderr.write(`audit failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
} finally {
  await db.end().catch(() => undefined);
  redis.disconnect();
  store.disconnect();
}
