/**
 * docker-compose.yml cannot run on these machines (no Docker engine), so this test keeps it consistent with the
 * native stack: the same host ports, the same BGC_* variable names, the same versions, files that exist.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { infraEnv, loadInfraConfig } from '@bgc/config/infra';
import { LOCAL_PORTS, type LocalPortName } from '@bgc/config/local-stack';
import { JAEGER_MODULE_VERSION, JAEGER_RELEASE, kafkaVersion, POSTGRES_MAJOR } from '@bgc/local-stack/versions';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface ComposeService {
  image: string;
  ports?: string[];
  environment?: Record<string, string | number>;
  volumes?: string[];
}
const compose = parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
  'x-bgc-infra-env': Record<string, string>;
};

/** Which compose service publishes each native port, and from which container port. */
const expected: Record<Exclude<LocalPortName, 'kafkaController'>, [service: string, containerPort: number]> = {
  postgresPrimary: ['postgres', 5432],
  postgresReplica: ['replica', 5432],
  pgbouncer: ['pgbouncer', 5432],
  redis: ['redis', 6379],
  kafka: ['kafka', 29092],
  jaegerOtlpGrpc: ['jaeger', 4317],
  jaegerOtlpHttp: ['jaeger', 4318],
  jaegerQuery: ['jaeger', 16686],
  jaegerQueryGrpc: ['jaeger', 16685],
  jaegerHealth: ['jaeger', 13133],
  jaegerMetrics: ['jaeger', 8888],
  prometheus: ['prometheus', 9090],
};

function published(): { service: string; host: string; hostPort: number; containerPort: number }[] {
  return Object.entries(compose.services).flatMap(([service, s]) =>
    (s.ports ?? []).map((p) => {
      const m = /^(?<host>[\d.]+):(?<hostPort>\d+):(?<containerPort>\d+)$/.exec(p);
      if (!m?.groups) throw new Error(`${service}: port "${p}" must be written host:hostPort:containerPort`);
      return {
        service,
        host: m.groups.host ?? '',
        hostPort: Number(m.groups.hostPort),
        containerPort: Number(m.groups.containerPort),
      };
    }),
  );
}

describe('docker-compose.yml agrees with the native stack', () => {
  test('every native port is published by the matching service, on 127.0.0.1, and nothing else is', () => {
    const ports = published();
    for (const [name, [service, containerPort]] of Object.entries(expected)) {
      const hostPort = LOCAL_PORTS[name as LocalPortName];
      expect(ports, `${name} (${hostPort})`).toContainEqual({ service, host: '127.0.0.1', hostPort, containerPort });
    }
    expect(ports).toHaveLength(Object.keys(expected).length);
  });

  test('the shared environment block names exactly the config variables, and they validate', () => {
    const block = compose['x-bgc-infra-env'];
    expect(Object.keys(block).sort()).toEqual(
      Object.keys(infraEnv)
        .map((k) => `BGC_${k}`)
        .sort(),
    );
    const parsed = loadInfraConfig(Object.fromEntries(Object.entries(block).map(([k, v]) => [k, String(v)])));
    // each URL points at a compose service, on the port that service listens on inside the network
    const inside: Record<string, number> = {
      postgres: 5432,
      replica: 5432,
      pgbouncer: 5432,
      redis: 6379,
      jaeger: 4318,
    };
    for (const url of [parsed.PG_URL, parsed.PG_REPLICA_URL, parsed.PG_POOLER_URL, parsed.REDIS_URL, parsed.OTLP_URL]) {
      const u = new URL(url);
      expect(compose.services[u.hostname], url).toBeDefined();
      expect(Number(u.port), url).toBe(inside[u.hostname]);
    }
    for (const broker of parsed.KAFKA_BROKERS) expect(compose.services[broker.split(':')[0] ?? '']).toBeDefined();
  });

  test('every BGC_ variable a compose service sets is a known config variable', () => {
    const known = new Set(Object.keys(infraEnv).map((k) => `BGC_${k}`));
    for (const [name, s] of Object.entries(compose.services)) {
      for (const key of Object.keys(s.environment ?? {}).filter((k) => k.startsWith('BGC_'))) {
        expect(known.has(key), `${name} sets unknown ${key}`).toBe(true);
      }
    }
  });

  test('images run the versions the native stack runs', () => {
    const tag = (service: string) => compose.services[service]?.image.split(':')[1] ?? '';
    expect(tag('kafka')).toBe(kafkaVersion());
    expect(tag('postgres')).toBe(String(POSTGRES_MAJOR));
    expect(tag('replica')).toBe(String(POSTGRES_MAJOR));
    expect(tag('redis').split('.')[0]).toBe('7');
    // Jaeger's v2 releases were tagged v1.(x+63) in Go module terms up to v1.76.0 == v2.13.0
    const [, minor] = JAEGER_MODULE_VERSION.split('.');
    expect(tag('jaeger')).toBe(JAEGER_RELEASE);
    expect(`2.${Number(minor) - 63}.0`).toBe(JAEGER_RELEASE);
  });

  test('every file a service mounts exists, and Postgres in Docker includes the native settings files', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0] ?? '';
        if (source.startsWith('./')) expect(fs.existsSync(path.join(root, source)), `${name}: ${source}`).toBe(true);
      }
    }
    for (const role of ['primary', 'replica']) {
      const conf = fs.readFileSync(path.join(root, `deploy/docker/postgres/${role}.conf`), 'utf8');
      expect(conf).toContain(`include '/etc/bgc/shared/common.conf'`);
      expect(conf).toContain(`include '/etc/bgc/shared/${role}.conf'`);
    }
  });
});
