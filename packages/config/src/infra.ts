/**
 * Where the shared infrastructure is: the variables every service and test reads. Defaults point at the local
 * stack (see local-stack.ts), so nothing needs setting for local use.
 */
import { z } from 'zod';
import { envTypes, loadEnv, secret } from './env.ts';
import { LOCAL_CREDENTIALS as C, LOCAL_HOST as H, LOCAL_PORTS as P } from './local-stack.ts';

const pg = (port: number) => `postgres://${C.superuser}:${C.superuserPassword}@${H}:${port}/${C.database}`;

export const infraEnv = {
  /** The primary, directly: migrations, CDC, admin work. */
  PG_URL: secret(envTypes.url(['postgres', 'postgresql'], pg(P.postgresPrimary))),
  /** The streaming replica (hot standby), for reads that tolerate lag. */
  PG_REPLICA_URL: secret(envTypes.url(['postgres', 'postgresql'], pg(P.postgresReplica))),
  /** PgBouncer in front of the primary (transaction pooling), for the APIs. */
  PG_POOLER_URL: secret(envTypes.url(['postgres', 'postgresql'], pg(P.pgbouncer))),
  /** The cache: evicts under memory pressure (allkeys-lfu), so only what can be rebuilt: projections, cache-aside. */
  REDIS_URL: secret(envTypes.url(['redis', 'rediss'], `redis://${H}:${P.redis}`)),
  /** The store: never evicts and persists (AOF), for data expensive to rebuild: feeds, presence. */
  REDIS_STORE_URL: secret(envTypes.url(['redis', 'rediss'], `redis://${H}:${P.redisStore}`)),
  KAFKA_BROKERS: envTypes.hostPorts(`${H}:${P.kafka}`),
  /** OTLP/HTTP base URL of the trace collector (Jaeger); `/v1/traces` is appended by the exporter. */
  OTLP_URL: envTypes.url(['http', 'https'], `http://${H}:${P.jaegerOtlpHttp}`),
  /** Jaeger's query API, for tests and for printing trace links. */
  JAEGER_URL: envTypes.url(['http', 'https'], `http://${H}:${P.jaegerQuery}`),
  PROMETHEUS_URL: envTypes.url(['http', 'https'], `http://${H}:${P.prometheus}`),
  LOG_LEVEL: envTypes.oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal'], 'info'),
  /** Share of new traces recorded, 0 to 1 (requests that arrive with a sampled traceparent always are). */
  TRACE_SAMPLE_RATIO: z.coerce.number().min(0).max(1).default(1).describe('a number from 0 to 1'),
};

export type InfraConfig = ReturnType<typeof loadInfraConfig>;

export function loadInfraConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadEnv(infraEnv, env);
}
