/** The feed builder's settings: BGC_* variables, validated once at start-up. */
import { z } from 'zod';
import { databaseEnv } from '@bgc/config/database';
import { envTypes, loadEnv } from '@bgc/config/env';
import { infraEnv } from '@bgc/config/infra';

export const feedBuilderEnv = {
  KAFKA_BROKERS: infraEnv.KAFKA_BROKERS,
  /** the cache Redis (evicting): status bodies, beside the projections */
  REDIS_URL: infraEnv.REDIS_URL,
  /**
   * A Redis Cluster instead of REDIS_URL for the cache: its nodes, `host:port,host:port,…` (any few; the rest are
   * discovered). Empty: the single Redis at REDIS_URL. The store stays the single server at REDIS_STORE_URL.
   */
  FEED_REDIS_CLUSTER_NODES: envTypes.hostPortsOrNone(),
  /** the store Redis (never evicts): the feeds, the pulled authors' lists, the rebuild requests */
  REDIS_STORE_URL: infraEnv.REDIS_STORE_URL,
  /** the streaming replica, as the reader role: audiences, backfills, rebuilds (after it has replayed the event) */
  DB_READER_URL: databaseEnv.DB_READER_URL,
  /** the CDC service's topic prefix: topics `<prefix>.public.<table>` */
  FEED_TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/)
    .default('bgc')
    .describe('letters, digits, ., _ or -'),
  FEED_GROUP: z.string().min(1).default('feed-builder'),
  /**
   * where a new group starts: at the end (feeds are rebuilt from the database when read, so the topics' history is
   * not needed) or at the beginning (tests, whose topics hold only their own events)
   */
  FEED_FROM_BEGINNING: envTypes.boolean(false),
  /** put before every key on both Redis servers (tests); the read API must use the same (READ_API_KEY_PREFIX) */
  FEED_KEY_PREFIX: z.string().default(''),
  /** entries a feed keeps (the oldest leave first) */
  FEED_CAP: envTypes.positiveInt(800),
  /** a user signed in (or signed up) within this many days is active: fan-out reaches them and their feed is kept */
  FEED_ACTIVE_DAYS: envTypes.positiveInt(30),
  /**
   * an author with more followers than this is not fanned out: their posts go to a list of their own, merged into
   * their audience's feeds at read time
   */
  FEED_PULL_THRESHOLD: envTypes.positiveInt(10_000),
  /** how far back a rebuild and a follow's backfill look (status updates are partitioned by week) */
  FEED_WINDOW_DAYS: envTypes.positiveInt(91),
  /** posts kept per pulled author */
  FEED_AUTHOR_POSTS: envTypes.positiveInt(200),
  /** a status body in the cache expires after this (± 10%) unless written again; reads refill it */
  FEED_BODY_TTL_SECONDS: envTypes.positiveInt(24 * 3600),
  /** how long a deleted status's tombstone refuses late events and fills */
  FEED_TOMBSTONE_TTL_SECONDS: envTypes.positiveInt(600),
  /** events applied per chunk: one wait for the replica, then their writes as one pipeline per Redis */
  FEED_PIPELINE_EVENTS: envTypes.positiveInt(200),
  /** the longest wait for the replica to replay a chunk's newest commit; past it the chunk is read again */
  FEED_REPLICA_WAIT_MS: envTypes.positiveInt(10_000),
  /** an inactive user asking for a feed is told so for this long (the read API reads the database meanwhile) */
  FEED_INACTIVE_MARK_MS: envTypes.positiveInt(60_000),
  FEED_SESSION_TIMEOUT_MS: envTypes.positiveInt(30_000),
  /**
   * how long the broker may hold a fetch with fewer than FEED_FETCH_MIN_BYTES: what an event may wait under a
   * trickle, and what an idle builder pays in fetches. 100 ms against 25: idle, half the builder's CPU (2.7% of a core
   * against 5.7%); a 5,000-follower post in every feed 27–30 ms later at p50 (bench/README.md, session 14), far
   * inside the 1 s a feed allows
   */
  FEED_FETCH_MAX_WAIT_MS: envTypes.positiveInt(100),
  FEED_FETCH_MIN_BYTES: envTypes.positiveInt(16 * 1024),
  FEED_COMMIT_INTERVAL_MS: envTypes.nonNegativeInt(1000),
  FEED_DB_POOL_MAX: envTypes.positiveInt(4),
  /**
   * rebuild requests waiting together are built together, up to this many at a time (each on a connection of the
   * pool, so at most FEED_DB_POOL_MAX run at once), between two chunks
   */
  FEED_REBUILD_CONCURRENCY: envTypes.positiveInt(4),
  FEED_METRICS_PORT: envTypes.port(23400),
  FEED_HOST: envTypes.oneOf(['127.0.0.1', '0.0.0.0', '::'], '127.0.0.1'),
  OTLP_URL: infraEnv.OTLP_URL,
  TRACE_SAMPLE_RATIO: infraEnv.TRACE_SAMPLE_RATIO,
  LOG_LEVEL: infraEnv.LOG_LEVEL,
};

export type FeedBuilderConfig = ReturnType<typeof loadFeedBuilderConfig>;

export function loadFeedBuilderConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadEnv(feedBuilderEnv, env);
}

const DAY = 86_400_000;

/** What the fan-out and the rebuild take from the settings. */
export interface FeedSettings {
  cap: number;
  activeMs: number;
  pullThreshold: number;
  windowMs: number;
  authorPosts: number;
  bodyTtlMs: number;
  tombstoneTtlMs: number;
  inactiveMarkMs: number;
}

export const feedSettings = (cfg: FeedBuilderConfig): FeedSettings => ({
  cap: cfg.FEED_CAP,
  activeMs: cfg.FEED_ACTIVE_DAYS * DAY,
  pullThreshold: cfg.FEED_PULL_THRESHOLD,
  windowMs: cfg.FEED_WINDOW_DAYS * DAY,
  authorPosts: cfg.FEED_AUTHOR_POSTS,
  bodyTtlMs: cfg.FEED_BODY_TTL_SECONDS * 1000,
  tombstoneTtlMs: cfg.FEED_TOMBSTONE_TTL_SECONDS * 1000,
  inactiveMarkMs: cfg.FEED_INACTIVE_MARK_MS,
});
