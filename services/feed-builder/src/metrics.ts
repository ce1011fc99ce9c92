/** The feed builder's Prometheus metrics: events, fan-out writes, commit-to-feed latency, rebuilds, feed sizes. */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

export function createFeedMetrics(registry: Registry) {
  const registers = [registry];
  return {
    events: new Counter({
      name: 'feed_events_total',
      help: 'Change events read, by table and outcome (applied: changed a feed; unchanged; skipped: nothing to do)',
      labelNames: ['table', 'outcome'] as const,
      registers,
    }),
    writes: new Counter({
      name: 'feed_fanout_writes_total',
      help: 'Feed writes sent to Redis, by kind (add, remove, author: a relationship recomputed, pull, expire) and whether they changed the feed',
      labelNames: ['kind', 'changed'] as const,
      registers,
    }),
    commitToFeed: new Histogram({
      name: 'feed_commit_to_feed_seconds',
      help: 'From the transaction commit in Postgres (source.ts_ms) to its feed writes acknowledged by Redis',
      buckets: [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10],
      registers,
    }),
    replicaWait: new Histogram({
      name: 'feed_replica_wait_seconds',
      help: 'How long a chunk waited for the replica to replay its newest commit before reading it',
      buckets: [0, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    }),
    rebuilds: new Counter({
      name: 'feed_rebuilds_total',
      help: 'Rebuild requests, by outcome (built, inactive: not rebuilt, already: built before, failed)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    rebuildSeconds: new Histogram({
      name: 'feed_rebuild_seconds',
      help: 'Time to rebuild one feed from the replica',
      buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
      registers,
    }),
    rebuildGroup: new Histogram({
      name: 'feed_rebuild_group_size',
      help: 'Feeds rebuilt together: the requests that were waiting, up to BGC_FEED_REBUILD_CONCURRENCY',
      buckets: [1, 2, 4, 8, 16, 32],
      registers,
    }),
    feedSize: new Histogram({
      name: 'feed_size_entries',
      help: 'Entries of a feed when it is rebuilt',
      buckets: [0, 10, 50, 100, 200, 400, 800, 1600],
      registers,
    }),
    pulledAuthors: new Gauge({
      name: 'feed_pulled_authors',
      help: 'Authors above the follower threshold, merged at read time instead of fanned out',
      registers,
    }),
    lag: new Gauge({
      name: 'feed_consumer_lag',
      help: 'Events behind the partition end, at the last batch read',
      labelNames: ['topic', 'partition'] as const,
      registers,
    }),
    errors: new Counter({
      name: 'feed_errors_total',
      help: 'Batches or rebuilds that failed and will be tried again, by error code',
      labelNames: ['code'] as const,
      registers,
    }),
  };
}

export type FeedMetrics = ReturnType<typeof createFeedMetrics>;
