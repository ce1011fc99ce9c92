/**
 * How tests reach the services: one interface, whatever runs them. Here the native provider starts the local stack
 * as processes; on a machine with a Docker engine a testcontainers provider can implement the same interface, and
 * `external` uses services someone else runs (URLs from the BGC_* variables).
 */
import { z } from 'zod';
import { loadEnv } from '@bgc/config/env';
import { loadInfraConfig } from '@bgc/config/infra';

export interface StackEndpoints {
  /** The primary, as a superuser (test set-up creates databases). */
  pgUrl: string;
  pgReplicaUrl: string;
  pgPoolerUrl: string;
  /** Redis, cache role (evicting, not persisted). */
  redisUrl: string;
  /** Redis, store role (noeviction, append-only file). */
  redisStoreUrl: string;
  kafkaBrokers: string[];
  /** OTLP/HTTP base URL. */
  otlpUrl: string;
  jaegerUrl: string;
  prometheusUrl: string;
}

export interface StackProvider {
  readonly name: string;
  /** Brings the services up (or finds them up) and says where they are. */
  start(log: (line: string) => void): Promise<{ endpoints: StackEndpoints; startedByUs: boolean }>;
  stop(log: (line: string) => void): Promise<void>;
}

function endpointsFromEnv(): StackEndpoints {
  const c = loadInfraConfig();
  return {
    pgUrl: c.PG_URL,
    pgReplicaUrl: c.PG_REPLICA_URL,
    pgPoolerUrl: c.PG_POOLER_URL,
    redisUrl: c.REDIS_URL,
    redisStoreUrl: c.REDIS_STORE_URL,
    kafkaBrokers: [...c.KAFKA_BROKERS],
    otlpUrl: c.OTLP_URL,
    jaegerUrl: c.JAEGER_URL,
    prometheusUrl: c.PROMETHEUS_URL,
  };
}

export class NativeStackProvider implements StackProvider {
  readonly name = 'native';

  async start(log: (line: string) => void) {
    const { up } = await import('@bgc/local-stack/stack');
    const { started } = await up(log);
    return { endpoints: endpointsFromEnv(), startedByUs: started.length > 0 };
  }

  async stop(log: (line: string) => void) {
    const { down } = await import('@bgc/local-stack/stack');
    await down(log);
  }
}

export class ExternalStackProvider implements StackProvider {
  readonly name = 'external';
  start() {
    return Promise.resolve({ endpoints: endpointsFromEnv(), startedByUs: false });
  }
  stop() {
    return Promise.resolve();
  }
}

export function stackProviderFromEnv(env: NodeJS.ProcessEnv = process.env): StackProvider {
  const { TEST_STACK } = loadEnv(
    { TEST_STACK: z.enum(['native', 'external']).default('native').describe('native or external') },
    env,
  );
  return TEST_STACK === 'native' ? new NativeStackProvider() : new ExternalStackProvider();
}
