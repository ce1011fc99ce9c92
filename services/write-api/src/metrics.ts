/** The write API's Prometheus metrics: requests and latency per route, errors by code, pool usage. */
import type pg from 'pg';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { createHttpMetrics } from '@bgc/http-api/request-log';

export function createMetrics(registry: Registry, pool: pg.Pool) {
  const { requests, errors } = createHttpMetrics(registry, {
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  new Gauge({
    name: 'db_pool_connections',
    help: 'Connections of the pool to PgBouncer, by state',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.set({ state: 'total' }, pool.totalCount);
      this.set({ state: 'idle' }, pool.idleCount);
      this.set({ state: 'waiting' }, pool.waitingCount);
    },
  });
  const batchSizes = new Histogram({
    name: 'write_api_batch_size',
    help: 'Requests per batched statement, by route',
    labelNames: ['route'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [registry],
  });
  const writeThrough = new Counter({
    name: 'write_api_write_through_total',
    help: 'Write-throughs to the Redis projections after commit, by outcome (failed: the projector converges)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  return { requests, errors, batchSizes, writeThrough };
}

export type Metrics = ReturnType<typeof createMetrics>;
