/**
 * Runs the write API as its own process, as it is deployed (its entry point, its config from the environment,
 * tracing on), against a test context's database. Dispose stops it with SIGTERM and expects a clean exit.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from '@bgc/testkit/context';
import type { ServiceProcess } from '@bgc/testkit/service-process';
import { startServiceProcess } from '@bgc/testkit/service-process';

const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/main.ts');

export type RunningApi = ServiceProcess;

export function startWriteApi(ctx: TestContext, env: Record<string, string> = {}): Promise<RunningApi> {
  return startServiceProcess({
    name: 'write-api',
    entry: main,
    env: {
      BGC_DB_WRITER_URL: ctx.roleUrl('writer'),
      BGC_WRITE_API_PORT: '0',
      BGC_OTLP_URL: ctx.urls.otlpUrl,
      BGC_LOG_LEVEL: 'info',
      // write-through into this context's keys (removed on dispose), where its projector writes too
      BGC_REDIS_URL: ctx.urls.redisUrl,
      BGC_REDIS_STORE_URL: ctx.urls.redisStoreUrl,
      BGC_WRITE_API_CACHE_KEY_PREFIX: ctx.redisPrefix,
      ...env,
    },
    ready: (line) => line.includes('"url":"'),
    timeoutMs: 20_000,
  });
}
