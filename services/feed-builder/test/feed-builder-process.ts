/**
 * Runs the feed builder as its own process (its entry point, config from the environment, tracing on) on a test
 * context's topics (the CDC service's prefix), database (the replica, as the reader role) and Redis key prefix, in a
 * consumer group of its own that reads its topics from the beginning.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { feedKeyspace } from '@bgc/cache/feed-keys';
import type { TestContext } from '@bgc/testkit/context';
import type { ServiceProcess } from '@bgc/testkit/service-process';
import { startServiceProcess } from '@bgc/testkit/service-process';
import { cdcNames } from '../../cdc/test/cdc-process.ts';

const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/main.ts');

export function startFeedBuilder(
  ctx: TestContext,
  env: Record<string, string> = {},
  group = `feed-builder-${ctx.id}`,
): Promise<ServiceProcess> {
  return startServiceProcess({
    name: 'feed-builder',
    entry: main,
    env: {
      BGC_KAFKA_BROKERS: ctx.urls.kafkaBrokers.join(','),
      BGC_REDIS_URL: ctx.urls.redisUrl,
      BGC_REDIS_STORE_URL: ctx.urls.redisStoreUrl,
      BGC_DB_READER_URL: ctx.roleUrl('reader'),
      BGC_FEED_TOPIC_PREFIX: cdcNames(ctx).prefix,
      BGC_FEED_KEY_PREFIX: ctx.redisPrefix,
      BGC_FEED_GROUP: group,
      BGC_FEED_FROM_BEGINNING: 'true',
      BGC_FEED_METRICS_PORT: '0',
      BGC_FEED_SESSION_TIMEOUT_MS: '6000',
      BGC_OTLP_URL: ctx.urls.otlpUrl,
      BGC_LOG_LEVEL: 'info',
      ...env,
    },
    ready: (line) => line.includes('"msg":"consuming"'),
    timeoutMs: 30_000,
  });
}

/**
 * What the read API does for readers without a feed: take each one's lease, ask for the rebuilds (in one push, so
 * the builder finds them waiting together, as after a cold start).
 */
export async function requestRebuilds(store: Redis, prefix: string, userIds: string[]): Promise<void> {
  const keys = feedKeyspace(prefix);
  for (const userId of userIds) await store.set(keys.building(userId), 'test', 'PX', 30_000, 'NX');
  await store.lpush(keys.rebuildRequests(), ...userIds);
}

/** The ids in a user's feed, newest first (undefined while it is not built). */
export async function feedIds(store: Redis, prefix: string, userId: string): Promise<string[] | undefined> {
  const keys = feedKeyspace(prefix);
  if ((await store.hexists(keys.guards(userId), '@built')) === 0) return undefined;
  return (await store.zrevrange(keys.feed(userId), 0, -1)).map((m) => m.slice(0, 36));
}
