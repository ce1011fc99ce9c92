/**
 * Runs the cache projector as its own process (its entry point, config from the environment, tracing on) on a
 * test context's topics (the CDC service's prefix) and Redis key prefix, in a consumer group of its own.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from '@bgc/testkit/context';
import type { ServiceProcess } from '@bgc/testkit/service-process';
import { startServiceProcess } from '@bgc/testkit/service-process';
import { cdcNames } from '../../cdc/test/cdc-process.ts';

const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/main.ts');

export function startProjector(
  ctx: TestContext,
  env: Record<string, string> = {},
  group = `projector-${ctx.id}`,
): Promise<ServiceProcess> {
  return startServiceProcess({
    name: 'cache-projector',
    entry: main,
    env: {
      BGC_KAFKA_BROKERS: ctx.urls.kafkaBrokers.join(','),
      BGC_REDIS_URL: ctx.urls.redisUrl,
      BGC_PROJECTOR_TOPIC_PREFIX: cdcNames(ctx).prefix,
      BGC_PROJECTOR_KEY_PREFIX: ctx.redisPrefix,
      BGC_PROJECTOR_GROUP: group,
      BGC_PROJECTOR_METRICS_PORT: '0',
      // the broker's minimum: a killed member's partitions move on within seconds
      BGC_PROJECTOR_SESSION_TIMEOUT_MS: '6000',
      BGC_OTLP_URL: ctx.urls.otlpUrl,
      BGC_LOG_LEVEL: 'info',
      ...env,
    },
    ready: (line) => line.includes('"msg":"consuming"'),
    timeoutMs: 30_000,
  });
}
