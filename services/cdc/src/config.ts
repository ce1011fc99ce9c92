/** The CDC service's settings: BGC_* variables, validated once at start-up. */
import { z } from 'zod';
import { databaseEnv } from '@bgc/config/database';
import { envTypes, loadEnv } from '@bgc/config/env';
import { infraEnv } from '@bgc/config/infra';

const identifier = (fallback: string) =>
  z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/)
    .default(fallback)
    .describe('a lower-case SQL identifier (letters, digits, _; at most 63)');

export const cdcEnv = {
  /** the primary, as the replication role (REPLICATION + SELECT on the published tables) */
  DB_CDC_URL: databaseEnv.DB_CDC_URL,
  KAFKA_BROKERS: infraEnv.KAFKA_BROKERS,
  CDC_SLOT: identifier('bgc_cdc'),
  CDC_PUBLICATION: identifier('bgc_cdc'),
  /** topics are `<prefix>.<schema>.<table>` and `<prefix>.transaction` */
  CDC_TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/)
    .default('bgc')
    .describe('letters, digits, ., _ or -'),
  /** partitions of each topic created by the service (per-key order holds in any number) */
  CDC_TOPIC_PARTITIONS: envTypes.positiveInt(3),
  /** how long history topics (messages, status updates, forum posts) keep events */
  CDC_HISTORY_RETENTION_HOURS: envTypes.positiveInt(24 * 7),
  /** a transactional logical message on this period keeps an idle slot advancing and proves the stream alive */
  CDC_HEARTBEAT_MS: envTypes.positiveInt(10_000),
  /** a stream silent for this long (no change, no heartbeat) is reconnected */
  CDC_WATCHDOG_MS: envTypes.positiveInt(45_000),
  /** a Kafka batch is sent once it holds this many bytes, or after CDC_LINGER_MS */
  CDC_BATCH_BYTES: envTypes.positiveInt(1024 * 1024),
  CDC_LINGER_MS: envTypes.positiveInt(5),
  /** initial: a new slot starts with a snapshot of the existing rows (`op: r`); never: changes only */
  CDC_SNAPSHOT: envTypes.oneOf(['initial', 'never'], 'initial'),
  /** a slot that is gone (invalidated, or dropped): resnapshot = new slot and every row republished (op r), loudly */
  CDC_ON_LOST_SLOT: envTypes.oneOf(['resnapshot', 'fail'], 'resnapshot'),
  /** rows per snapshot chunk (one chunk is held in memory at a time) */
  CDC_SNAPSHOT_CHUNK: envTypes.positiveInt(1024),
  CDC_METRICS_PORT: envTypes.port(23100),
  CDC_HOST: envTypes.oneOf(['127.0.0.1', '0.0.0.0', '::'], '127.0.0.1'),
  OTLP_URL: infraEnv.OTLP_URL,
  TRACE_SAMPLE_RATIO: infraEnv.TRACE_SAMPLE_RATIO,
  LOG_LEVEL: infraEnv.LOG_LEVEL,
};

export type CdcConfig = ReturnType<typeof loadCdcConfig>;

export function loadCdcConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadEnv(cdcEnv, env);
}
