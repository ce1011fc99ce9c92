import { describe, expect, test } from 'vitest';
import { ConfigError, envTypes, loadEnv, redactUrl, secret } from './env.ts';
import { infraEnv, loadInfraConfig } from './infra.ts';
import { LOCAL_PORTS } from './local-stack.ts';

describe('loadEnv', () => {
  test('the defaults are themselves valid values', () => {
    const defaults = loadInfraConfig({});
    const explicit = Object.fromEntries(
      Object.entries(defaults).map(([k, v]) => [`BGC_${k}`, Array.isArray(v) ? v.join(',') : String(v)]),
    );
    expect(loadInfraConfig(explicit)).toEqual(defaults);
  });

  test('defaults point at the local stack', () => {
    const c = loadInfraConfig({});
    expect(new URL(c.PG_URL).port).toBe(String(LOCAL_PORTS.postgresPrimary));
    expect(new URL(c.PG_REPLICA_URL).port).toBe(String(LOCAL_PORTS.postgresReplica));
    expect(new URL(c.PG_POOLER_URL).port).toBe(String(LOCAL_PORTS.pgbouncer));
    expect(new URL(c.REDIS_URL).port).toBe(String(LOCAL_PORTS.redis));
    expect(new URL(c.REDIS_STORE_URL).port).toBe(String(LOCAL_PORTS.redisStore));
    expect(c.KAFKA_BROKERS).toEqual([`127.0.0.1:${LOCAL_PORTS.kafka}`]);
    expect(c.LOG_LEVEL).toBe('info');
  });

  test('reads BGC_-prefixed variables and parses them', () => {
    const c = loadInfraConfig({ BGC_KAFKA_BROKERS: 'a:1, b:2', BGC_LOG_LEVEL: 'debug' });
    expect(c.KAFKA_BROKERS).toEqual(['a:1', 'b:2']);
    expect(c.LOG_LEVEL).toBe('debug');
  });

  test('a wrong value names the variable and what it expects, and every wrong variable is listed', () => {
    let error: unknown;
    try {
      loadInfraConfig({ BGC_KAFKA_BROKERS: 'no-port', BGC_LOG_LEVEL: 'loud', BGC_OTLP_URL: 'ftp://x' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues;
    expect(issues.map((i) => i.variable).sort()).toEqual(['BGC_KAFKA_BROKERS', 'BGC_LOG_LEVEL', 'BGC_OTLP_URL']);
    expect((error as ConfigError).message).toContain(
      "BGC_LOG_LEVEL: expected one of trace, debug, info, warn, error, fatal, got 'loud'",
    );
  });

  test('secret values never appear in the error', () => {
    const shape = { TOKEN: secret(envTypes.url(['postgres'], 'postgres://u:pw@h:1/d')) };
    expect(() => loadEnv(shape, { BGC_TOKEN: 'http://user:hunter2@x' })).toThrow(/got \(a secret value\)/);
    try {
      loadEnv(shape, { BGC_TOKEN: 'http://user:hunter2@x' });
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
  });

  test('a missing required variable says so', () => {
    const shape = { PORT: envTypes.port(80).unwrap() };
    expect(() => loadEnv(shape, {})).toThrow(/BGC_PORT: expected .*, got nothing/);
  });

  test('every infrastructure variable has a description that becomes its error text', () => {
    for (const [key, schema] of Object.entries(infraEnv)) expect(schema.description, key).toBeTruthy();
  });

  test('redactUrl hides passwords', () => {
    expect(redactUrl('postgres://u:secret@h:5432/db')).toBe('postgres://u:***@h:5432/db');
  });
});
