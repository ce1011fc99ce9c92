/** The write API's settings: BGC_* variables, validated once at start-up. */
import { databaseEnv } from '@bgc/config/database';
import { envTypes, loadEnv } from '@bgc/config/env';
import { infraEnv } from '@bgc/config/infra';
import { z } from 'zod';

export const writeApiEnv = {
  WRITE_API_PORT: envTypes.port(23000),
  WRITE_API_HOST: envTypes.oneOf(['127.0.0.1', '0.0.0.0', '::'], '127.0.0.1'),
  DB_WRITER_URL: databaseEnv.DB_WRITER_URL,
  /** Connections this process holds to PgBouncer (PgBouncer multiplexes them onto at most 200 server ones). */
  WRITE_API_POOL_MAX: envTypes.positiveInt(20),
  /** How long a request waits for a pooled connection before it fails with 503. */
  WRITE_API_POOL_ACQUIRE_TIMEOUT_MS: envTypes.positiveInt(2000),
  /** Most message sends one batched statement carries (`statement-batcher.ts`); 1 turns batching off. */
  WRITE_API_BATCH_MAX: envTypes.positiveInt(64),
  /** Batched statements of one route running at once. */
  WRITE_API_BATCH_IN_FLIGHT: envTypes.positiveInt(2),
  /**
   * Least time between the starts of two batched statements of one route while requests keep coming, so that each
   * carries more of them: a commit costs Postgres, PgBouncer and the replica about as much as several rows do. A
   * lone request, or the first after a pause, leaves at once; 0 sends whenever a statement slot is free.
   */
  WRITE_API_BATCH_INTERVAL_MS: envTypes.nonNegativeInt(10),
  /** Lifetime of a bearer token. */
  WRITE_API_TOKEN_TTL_HOURS: envTypes.positiveInt(24 * 7),
  /** Request bodies larger than this are refused with 413. */
  WRITE_API_BODY_LIMIT_BYTES: envTypes.positiveInt(64 * 1024),
  /** Requests slower than this are logged (info); faster successful ones only at debug. */
  WRITE_API_SLOW_REQUEST_MS: envTypes.positiveInt(250),
  /** The Redis cache that holds the projections, for write-through (`write-through.ts`). */
  REDIS_URL: infraEnv.REDIS_URL,
  /**
   * A Redis Cluster instead of REDIS_URL for the cache: its nodes, `host:port,host:port,…` (any few; the rest are
   * discovered). Empty: the single Redis at REDIS_URL. The store stays the single server at REDIS_STORE_URL.
   */
  WRITE_API_REDIS_CLUSTER_NODES: envTypes.hostPortsOrNone(),
  /** The Redis store: it holds the pointer to the projections' live generation. */
  REDIS_STORE_URL: infraEnv.REDIS_STORE_URL,
  /** After commit, write the user's own profile and memberships to the projections before answering. */
  WRITE_API_WRITE_THROUGH: envTypes.boolean(true),
  /** The projections' key prefix: the cache projector's BGC_PROJECTOR_KEY_PREFIX. */
  WRITE_API_CACHE_KEY_PREFIX: z.string().default(''),
  /** Gives up on Redis after this long (the projector converges); the answer is never held longer. */
  WRITE_API_WRITE_THROUGH_TIMEOUT_MS: envTypes.positiveInt(200),
  /** As the projector's: a document's lifetime (± 10%) and a tombstone's. */
  WRITE_API_DOCUMENT_TTL_SECONDS: envTypes.positiveInt(24 * 3600),
  WRITE_API_TOMBSTONE_TTL_SECONDS: envTypes.positiveInt(600),
  OTLP_URL: infraEnv.OTLP_URL,
  TRACE_SAMPLE_RATIO: infraEnv.TRACE_SAMPLE_RATIO,
  LOG_LEVEL: infraEnv.LOG_LEVEL,
};

export type WriteApiConfig = ReturnType<typeof loadWriteApiConfig>;

export function loadWriteApiConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadEnv(writeApiEnv, env);
}
