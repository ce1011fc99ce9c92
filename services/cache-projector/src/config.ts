/** The cache projector's settings: BGC_* variables, validated once at start-up. */
import { z } from 'zod';
import type { WriteSettings } from '@bgc/cache/queue-write';
import { envTypes, loadEnv } from '@bgc/config/env';
import { infraEnv } from '@bgc/config/infra';

export const projectorEnv = {
  KAFKA_BROKERS: infraEnv.KAFKA_BROKERS,
  /** the cache Redis (evicting): projections live there beside cache-aside entries */
  REDIS_URL: infraEnv.REDIS_URL,
  /** the store Redis (never evicts): holds the generation pointer, `<prefix>projections:generation` */
  REDIS_STORE_URL: infraEnv.REDIS_STORE_URL,
  /**
   * A Redis Cluster instead of REDIS_URL: its nodes, `host:port,host:port,…` (any few; the rest are discovered).
   * Empty: the single Redis at REDIS_URL.
   */
  PROJECTOR_REDIS_CLUSTER_NODES: envTypes.hostPortsOrNone(),
  /** the CDC service's topic prefix: topics `<prefix>.public.<table>` */
  PROJECTOR_TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/)
    .default('bgc')
    .describe('letters, digits, ., _ or -'),
  PROJECTOR_GROUP: z.string().min(1).default('cache-projector'),
  /**
   * put before every key (tests); a rebuild's generations go after it: the live generation's keys are
   * `<prefix><generation>:{…}` (`@bgc/cache/generation`), or `<prefix>{…}` until the first rebuild
   */
  PROJECTOR_KEY_PREFIX: z.string().default(''),
  /** the feed builder's key prefix (its own FEED_KEY_PREFIX): `rebuild --feeds` drops the home feeds under it */
  FEED_KEY_PREFIX: z.string().default(''),
  /** messages kept per room and conversation */
  PROJECTOR_RECENT_MESSAGES: envTypes.positiveInt(100),
  /** a projected document expires after this (± 10% jitter) unless written again; reads refill it */
  PROJECTOR_DOCUMENT_TTL_SECONDS: envTypes.positiveInt(24 * 3600),
  /** how long a deleted document's tombstone refuses late events and fills: longer than any fill takes */
  PROJECTOR_TOMBSTONE_TTL_SECONDS: envTypes.positiveInt(600),
  /**
   * publish the keys each chunk changed on `<PROJECTOR_KEY_PREFIX>cache:invalidate` (one PUBLISH per chunk), so
   * readers drop their in-process copies (`@bgc/cache/invalidation`)
   */
  PROJECTOR_INVALIDATIONS: envTypes.boolean(true),
  /** events applied per chunk: its writes leave as a few script calls, and offsets are resolved after each */
  PROJECTOR_PIPELINE_EVENTS: envTypes.positiveInt(500),
  /**
   * partitions whose batches are applied at the same time: while one waits for Redis, another is parsed. kafkajs
   * fetches again only once every batch of a fetch is applied, so more than the partitions assigned buys nothing
   */
  PROJECTOR_PARTITIONS_CONCURRENTLY: envTypes.positiveInt(9),
  /** a member silent this long leaves the group and its partitions move (after a crash: how long they wait) */
  PROJECTOR_SESSION_TIMEOUT_MS: envTypes.positiveInt(30_000),
  /** how long the broker may hold a fetch that has fewer than PROJECTOR_FETCH_MIN_BYTES: the most it adds to latency */
  PROJECTOR_FETCH_MAX_WAIT_MS: envTypes.positiveInt(25),
  /**
   * the broker answers a fetch once it has this many bytes, or after PROJECTOR_FETCH_MAX_WAIT_MS: under a trickle
   * of events one fetch carries many instead of one fetch per event (each costs the broker and this process a round)
   */
  PROJECTOR_FETCH_MIN_BYTES: envTypes.positiveInt(16 * 1024),
  /**
   * the group's offsets are committed at most this often (and when the group is left): a commit is a write to
   * Kafka, and after a crash the events since the last one are applied again, which the guarded writes make a no-op
   */
  PROJECTOR_COMMIT_INTERVAL_MS: envTypes.nonNegativeInt(1000),
  PROJECTOR_METRICS_PORT: envTypes.port(23200),
  PROJECTOR_HOST: envTypes.oneOf(['127.0.0.1', '0.0.0.0', '::'], '127.0.0.1'),
  OTLP_URL: infraEnv.OTLP_URL,
  TRACE_SAMPLE_RATIO: infraEnv.TRACE_SAMPLE_RATIO,
  LOG_LEVEL: infraEnv.LOG_LEVEL,
};

export type ProjectorConfig = ReturnType<typeof loadProjectorConfig>;

export function loadProjectorConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadEnv(projectorEnv, env);
}

/** What the guarded writes take from the settings (the live projector's and a rebuild's alike). */
export const writeSettings = (cfg: ProjectorConfig): WriteSettings => ({
  documentTtlMs: cfg.PROJECTOR_DOCUMENT_TTL_SECONDS * 1000,
  tombstoneTtlMs: cfg.PROJECTOR_TOMBSTONE_TTL_SECONDS * 1000,
  recentMessages: cfg.PROJECTOR_RECENT_MESSAGES,
});
