/** The read API's settings: BGC_* variables, validated once at start-up. */
import { z } from 'zod';
import { databaseEnv } from '@bgc/config/database';
import { envTypes, loadEnv, secret } from '@bgc/config/env';
import { infraEnv } from '@bgc/config/infra';
import { LOCAL_CREDENTIALS, LOCAL_DB_ROLES, LOCAL_HOST, LOCAL_PORTS } from '@bgc/config/local-stack';

const { reader } = LOCAL_DB_ROLES;

export const readApiEnv = {
  READ_API_PORT: envTypes.port(23300),
  READ_API_HOST: envTypes.oneOf(['127.0.0.1', '0.0.0.0', '::'], '127.0.0.1'),
  /** Requests slower than this are logged (info); faster successful ones only at debug. */
  READ_API_SLOW_REQUEST_MS: envTypes.positiveInt(100),
  /** Reads that tolerate lag: the streaming replica, as the reader role. */
  DB_READER_URL: databaseEnv.DB_READER_URL,
  /**
   * The reader role on the primary: reads that must see a write the replica has not replayed yet (read-your-writes
   * past the wait), and token look-ups the replica does not know yet.
   */
  DB_READER_PRIMARY_URL: secret(
    envTypes.url(
      ['postgres', 'postgresql'],
      `postgres://${reader.user}:${reader.password}@${LOCAL_HOST}:${LOCAL_PORTS.postgresPrimary}/${LOCAL_CREDENTIALS.database}`,
    ),
  ),
  /** Connections to the replica. */
  READ_API_POOL_MAX: envTypes.positiveInt(20),
  /** Connections to the primary (only read-your-writes overflow and token misses use them). */
  READ_API_PRIMARY_POOL_MAX: envTypes.positiveInt(5),
  /** How long a request waits for a pooled connection before it fails with 503. */
  READ_API_POOL_ACQUIRE_TIMEOUT_MS: envTypes.positiveInt(2000),
  /** A request with Commit-LSN waits this long for the replica to replay it, then reads the primary. */
  READ_API_LSN_WAIT_MS: z.coerce.number().int().min(0).default(200).describe('milliseconds, 0 or more'),
  /** How often the replica's replay position and lag are sampled for the metrics. */
  READ_API_LAG_POLL_MS: envTypes.positiveInt(1000),
  /** The cache Redis (projections, cache-aside entries) and the store Redis (presence). */
  REDIS_URL: infraEnv.REDIS_URL,
  REDIS_STORE_URL: infraEnv.REDIS_STORE_URL,
  /**
   * A Redis Cluster instead of REDIS_URL for the cache Redis: its nodes, `host:port,host:port,…` (any few; the rest
   * are discovered). Empty: the single Redis at REDIS_URL. The store Redis stays the single server at REDIS_STORE_URL.
   */
  READ_API_REDIS_CLUSTER_NODES: envTypes.hostPortsOrNone(),
  /** The projector's key prefix (tests; the generations of a rebuild): keys `<prefix>{u:<id>}:profile`, … */
  READ_API_KEY_PREFIX: z.string().default(''),
  /** The in-process cache in front of Redis for profiles: entries, bytes, and how long an entry lives. */
  READ_API_L1_ENTRIES: envTypes.positiveInt(50_000),
  READ_API_L1_BYTES: envTypes.positiveInt(64 * 1024 * 1024),
  READ_API_L1_TTL_MS: envTypes.positiveInt(5000),
  /** A profile filled from the database lives this long in Redis (the projector's document TTL). */
  READ_API_DOCUMENT_TTL_SECONDS: envTypes.positiveInt(24 * 3600),
  /** Cache-aside entries (first pages of lists, forum pages, search results): time to live. */
  READ_API_LIST_TTL_MS: envTypes.positiveInt(30_000),
  /**
   * Whom a user blocks: every change to it is announced by the projector (and dropped here at once), so it
   * may live long; the TTL only bounds what a lost announcement could leave.
   */
  READ_API_DERIVED_TTL_MS: envTypes.positiveInt(600_000),
  /** A user counts as online this long after a heartbeat. */
  READ_API_PRESENCE_TTL_MS: envTypes.positiveInt(60_000),
  /** The JSON flag file (flagd's format); reloaded when it changes. Empty: every flag at its default. */
  READ_API_FLAGS_FILE: z.string().default(''),
  OTLP_URL: infraEnv.OTLP_URL,
  TRACE_SAMPLE_RATIO: infraEnv.TRACE_SAMPLE_RATIO,
  LOG_LEVEL: infraEnv.LOG_LEVEL,
};

export type ReadApiConfig = ReturnType<typeof loadReadApiConfig>;

export function loadReadApiConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadEnv(readApiEnv, env);
}
