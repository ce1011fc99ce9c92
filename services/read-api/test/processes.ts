/**
 * Runs the read API as its own process (its entry point, config from the environment, tracing on) against a test
 * context's database (replica, and the primary as the reader role) and Redis key prefix; and the services in front
 * of it (write API, CDC, cache projector), each as its own process.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from '@bgc/testkit/context';
import type { ServiceProcess } from '@bgc/testkit/service-process';
import { startServiceProcess } from '@bgc/testkit/service-process';
import { startCdc } from '../../cdc/test/cdc-process.ts';
import { startProjector } from '../../cache-projector/test/projector-process.ts';
import { startWriteApi } from '../../write-api/test/server.ts';

const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/main.ts');

/** The reader role's URL on the primary, for this context's database. */
export function readerOnPrimary(ctx: TestContext): string {
  const url = new URL(ctx.roleUrl('reader'));
  url.port = new URL(ctx.urls.pgUrl).port;
  return url.toString();
}

export function startReadApi(ctx: TestContext, env: Record<string, string> = {}): Promise<ServiceProcess> {
  return startServiceProcess({
    name: 'read-api',
    entry: main,
    env: {
      BGC_DB_READER_URL: ctx.roleUrl('reader'),
      BGC_DB_READER_PRIMARY_URL: readerOnPrimary(ctx),
      BGC_REDIS_URL: ctx.urls.redisUrl,
      BGC_REDIS_STORE_URL: ctx.urls.redisStoreUrl,
      BGC_READ_API_KEY_PREFIX: ctx.redisPrefix,
      BGC_READ_API_PORT: '0',
      BGC_OTLP_URL: ctx.urls.otlpUrl,
      BGC_LOG_LEVEL: 'info',
      ...env,
    },
    ready: (line) => line.includes('"msg":"listening"'),
    timeoutMs: 20_000,
  });
}

/** Write API, CDC and projector: what makes a write reach Redis. Disposed in reverse order. */
export async function startPipeline(ctx: TestContext, writeApiEnv: Record<string, string> = {}) {
  const cdc = await startCdc(ctx);
  const writeApi = await startWriteApi(ctx, writeApiEnv);
  const projector = await startProjector(ctx);
  return {
    writeApi,
    projector,
    cdc,
    async [Symbol.asyncDispose]() {
      await projector.stop();
      await writeApi.stop();
      await cdc.stop();
    },
  };
}

/** A sample of a metric with these labels from a /metrics text (NaN when absent). */
export async function metric(baseUrl: string, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const sample = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && labels.split(',').every((lab) => l.includes(lab)));
  return Number(sample?.split(' ').at(-1) ?? NaN);
}

/** PUT with a bearer token and no body (the write API's test client has no put); resolves with the status. */
export async function put(baseUrl: string, path: string, token: string): Promise<number> {
  const res = await fetch(`${baseUrl}${path}`, { method: 'PUT', headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}
