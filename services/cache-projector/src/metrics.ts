/** The projector's Prometheus metrics: events by table and outcome, commit-to-Redis latency, lag, dead letters. */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

export function createProjectorMetrics(registry: Registry) {
  const registers = [registry];
  return {
    events: new Counter({
      name: 'projector_events_total',
      help: 'Change events read, by table and outcome (applied: changed Redis; unchanged: older than Redis; skipped: nothing to project; dead: dead-lettered)',
      labelNames: ['table', 'outcome'] as const,
      registers,
    }),
    commitToRedis: new Histogram({
      name: 'projector_commit_to_redis_seconds',
      help: 'From the transaction commit in Postgres (source.ts_ms) to the write acknowledged by Redis',
      buckets: [0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    lag: new Gauge({
      name: 'projector_consumer_lag',
      help: 'Events behind the partition end, at the last batch read',
      labelNames: ['topic', 'partition'] as const,
      registers,
    }),
    deadLetters: new Counter({
      name: 'projector_dead_letters_total',
      help: 'Events sent to the dead-letter topic, by table',
      labelNames: ['table'] as const,
      registers,
    }),
    errors: new Counter({
      name: 'projector_errors_total',
      help: 'Batches that failed and will be read again (Redis or Kafka unavailable), by error code',
      labelNames: ['code'] as const,
      registers,
    }),
  };
}

export type ProjectorMetrics = ReturnType<typeof createProjectorMetrics>;
