/**
 * The read API's Prometheus metrics: requests and latency per route, errors by code, cache lookups per keyspace and
 * outcome, replica lag, database reads by target, pool usage, the L1's size.
 */
import type pg from 'pg';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { createHttpMetrics } from '@bgc/http-api/request-log';

export type CacheOutcome = 'l1_hit' | 'hit' | 'negative_hit' | 'miss' | 'bypass';

export function createMetrics(registry: Registry) {
  const { requests, errors } = createHttpMetrics(registry, {
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  const cacheLookups = new Counter({
    name: 'cache_lookups_total',
    help: 'Cache lookups by keyspace and outcome (l1_hit, hit: Redis, negative_hit, miss: the database, bypass: not asked)',
    labelNames: ['keyspace', 'outcome'] as const,
    registers: [registry],
  });
  const dbReads = new Counter({
    name: 'read_api_db_reads_total',
    help: 'Requests that read the database, by target (replica, primary) and why that one',
    labelNames: ['target', 'reason'] as const,
    registers: [registry],
  });
  const replicaLagBytes = new Gauge({
    name: 'read_api_replica_lag_bytes',
    help: 'WAL the replica has not replayed yet (primary position minus replay position)',
    registers: [registry],
  });
  const replicaLagSeconds = new Gauge({
    name: 'read_api_replica_lag_seconds',
    help: 'Age of the last replayed transaction while the replica has received WAL it has not replayed, else 0',
    registers: [registry],
  });
  const lsnWaits = new Histogram({
    name: 'read_api_lsn_wait_seconds',
    help: 'How long requests with Commit-LSN waited for the replica, by where they were served',
    labelNames: ['target'] as const,
    buckets: [0, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1],
    registers: [registry],
  });
  return { requests, errors, cacheLookups, dbReads, replicaLagBytes, replicaLagSeconds, lsnWaits };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Gauges read at scrape time from things the service owns. */
export function registerStateGauges(
  registry: Registry,
  state: { pools: Record<string, pg.Pool>; l1: { size: number; bytes: number } },
) {
  new Gauge({
    name: 'db_pool_connections',
    help: 'Connections of each pool, by state',
    labelNames: ['pool', 'state'] as const,
    registers: [registry],
    collect() {
      for (const [name, pool] of Object.entries(state.pools)) {
        this.set({ pool: name, state: 'total' }, pool.totalCount);
        this.set({ pool: name, state: 'idle' }, pool.idleCount);
        this.set({ pool: name, state: 'waiting' }, pool.waitingCount);
      }
    },
  });
  new Gauge({
    name: 'read_api_l1_entries',
    help: 'Entries in the in-process cache',
    registers: [registry],
    collect() {
      this.set(state.l1.size);
    },
  });
  new Gauge({
    name: 'read_api_l1_bytes',
    help: 'Estimated bytes in the in-process cache',
    registers: [registry],
    collect() {
      this.set(state.l1.bytes);
    },
  });
}
