/**
 * Runs the CDC service as its own process (its entry point, config from the environment, tracing on) against a
 * test context's database, with a slot and topic prefix of the context's own. `kill()` is kill -9.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from '@bgc/testkit/context';
import type { ServiceProcess } from '@bgc/testkit/service-process';
import { startServiceProcess } from '@bgc/testkit/service-process';

const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/main.ts');

export interface RunningCdc extends ServiceProcess {
  /** where /metrics and /healthz answer */
  metricsUrl: string;
}

/** what the service logs once the snapshot it was running is all in Kafka */
const SNAPSHOT_PUBLISHED = '"msg":"snapshot published"';

/** Whether this run of the service has published its snapshot (by its log). */
export const snapshotPublished = (cdc: ServiceProcess) => cdc.logs.some((line) => line.includes(SNAPSHOT_PUBLISHED));

export const cdcNames = (ctx: TestContext) => ({
  slot: `cdc_${ctx.id.replace(/[^a-z0-9]/g, '_')}`,
  prefix: ctx.topicPrefix.replace(/\.$/, ''),
});

export async function startCdc(
  ctx: TestContext,
  env: Record<string, string> = {},
  { waitForSnapshot = true } = {},
): Promise<RunningCdc> {
  const { slot, prefix } = cdcNames(ctx);
  let streaming = false;
  const service = await startServiceProcess({
    name: 'cdc',
    entry: main,
    env: {
      BGC_DB_CDC_URL: ctx.roleUrl('cdc'),
      BGC_KAFKA_BROKERS: ctx.urls.kafkaBrokers.join(','),
      BGC_CDC_SLOT: slot,
      BGC_CDC_TOPIC_PREFIX: prefix,
      BGC_CDC_METRICS_PORT: '0',
      BGC_OTLP_URL: ctx.urls.otlpUrl,
      BGC_LOG_LEVEL: 'info',
      ...env,
    },
    // the slot exists from "streaming" on: every write after it is streamed; a new slot first publishes the
    // snapshot of what the database already holds (tests wait for it unless they ask not to)
    ready: (line) => {
      if (line.includes('"msg":"streaming"')) streaming = !line.includes('"snapshot":{') || !waitForSnapshot;
      if (line.includes(SNAPSHOT_PUBLISHED)) streaming = true;
      return streaming;
    },
  });
  return { ...service, metricsUrl: service.url };
}
