/**
 * The partition maintainer as a service: one pass at start, then one every interval, each on a fresh connection as
 * the migrator role (DDL). A failed pass is logged and counted, and the next one retries: the DEFAULT partitions
 * keep writes safe meanwhile. Metrics on /metrics: passes by outcome, partitions created and dropped.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Counter } from 'prom-client';
import { envTypes, loadEnv } from '@bgc/config/env';
import { databaseEnv } from '@bgc/config/database';
import { infraEnv } from '@bgc/config/infra';
import { maintainPartitions } from '@bgc/db/partitions';
import type { Service } from '@bgc/runtime/service';
import { createLogger } from '@bgc/telemetry/logger';
import { createRegistry } from '@bgc/telemetry/metrics';
import { serveMetrics } from '@bgc/telemetry/metrics-server';

export const maintainerEnv = {
  DB_MIGRATOR_URL: databaseEnv.DB_MIGRATOR_URL,
  PARTITION_MAINTAINER_INTERVAL_SECONDS: envTypes.positiveInt(3600),
  PARTITION_MAINTAINER_METRICS_PORT: envTypes.port(23090),
  /** 0.0.0.0 in a container, so Prometheus and the published port reach /metrics */
  PARTITION_MAINTAINER_HOST: envTypes.oneOf(['127.0.0.1', '0.0.0.0', '::'], '127.0.0.1'),
  LOG_LEVEL: infraEnv.LOG_LEVEL,
};

export type MaintainerConfig = ReturnType<typeof loadMaintainerConfig>;
export const loadMaintainerConfig = (env: NodeJS.ProcessEnv = process.env) => loadEnv(maintainerEnv, env);

export class PartitionMaintainer implements Service {
  readonly name = 'partition-maintainer';
  readonly #config: MaintainerConfig;
  readonly #abort = new AbortController();
  readonly #logger;
  readonly #registry = createRegistry('partition-maintainer');
  readonly #passes = new Counter({
    name: 'partition_maintenance_passes_total',
    help: 'Maintenance passes',
    labelNames: ['outcome'] as const,
    registers: [this.#registry],
  });
  readonly #changes = new Counter({
    name: 'partition_changes_total',
    help: 'Partitions created or dropped',
    labelNames: ['change'] as const,
    registers: [this.#registry],
  });

  constructor(config: MaintainerConfig) {
    this.#config = config;
    this.#logger = createLogger({ service: this.name, level: config.LOG_LEVEL });
  }

  /** One pass; exported for `./bgc db partitions` and tests. */
  async pass(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#config.DB_MIGRATOR_URL, application_name: this.name });
    await client.connect();
    try {
      const report = await maintainPartitions(client);
      this.#changes.inc({ change: 'created' }, report.created.length);
      this.#changes.inc({ change: 'dropped' }, report.dropped.length);
      this.#passes.inc({ outcome: 'ok' });
      this.#logger.info({ created: report.created, dropped: report.dropped }, 'maintenance pass');
    } finally {
      await client.end();
    }
  }

  async run(): Promise<void> {
    const server = await serveMetrics(this.#registry, {
      port: this.#config.PARTITION_MAINTAINER_METRICS_PORT,
      host: this.#config.PARTITION_MAINTAINER_HOST,
      health: () => ({ ok: true }),
    });
    try {
      while (!this.#abort.signal.aborted) {
        await this.pass().catch((err: unknown) => {
          this.#passes.inc({ outcome: 'failed' });
          this.#logger.error({ err }, 'maintenance pass failed; the next one retries');
        });
        await sleep(this.#config.PARTITION_MAINTAINER_INTERVAL_SECONDS * 1000, undefined, {
          signal: this.#abort.signal,
        }).catch(() => undefined);
      }
    } finally {
      server.close();
      this.#logger.flush();
    }
  }

  stop(): Promise<void> {
    this.#abort.abort();
    return Promise.resolve();
  }
}
