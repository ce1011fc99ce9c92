/**
 * docker-compose.yml cannot run on these machines (no Docker engine), so this test keeps it consistent with the
 * native stack: the same host ports, the same BGC_* variable names, the same versions, files that exist; and the
 * project's services (deploy/docker/Dockerfile) configured the way `./bgc start` runs them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { databaseEnv } from '@bgc/config/database';
import { type EnvShape, loadEnv } from '@bgc/config/env';
import { infraEnv, loadInfraConfig } from '@bgc/config/infra';
import { LOCAL_HOST, LOCAL_PORTS, type LocalPortName } from '@bgc/config/local-stack';
import { components as nativeComponents, services as nativeServices } from '@bgc/local-stack/stack';
import { JAEGER_MODULE_VERSION, JAEGER_RELEASE, kafkaVersion, POSTGRES_MAJOR } from '@bgc/local-stack/versions';
// the services are not dependencies of this package: their settings are read from where they are declared
import { projectorEnv } from '../../services/cache-projector/src/config.ts';
import { cdcEnv } from '../../services/cdc/src/config.ts';
import { maintainerEnv } from '../../services/partition-maintainer/src/service.ts';
import { feedBuilderEnv } from '../../services/feed-builder/src/config.ts';
import { readApiEnv } from '../../services/read-api/src/config.ts';
import { writeApiEnv } from '../../services/write-api/src/config.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');

interface ComposeService {
  image: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: string[];
  environment?: Record<string, string | number>;
  volumes?: string[];
  restart?: string;
}
const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, ComposeService>;
  'x-bgc-infra-env': Record<string, string>;
};

/**
 * The project's processes in compose: the BGC_* shape each one reads, and which of its variables name the port it
 * serves /healthz and /metrics on and the address it binds.
 */
const project: Record<string, { shape: EnvShape; port?: string; bind?: string }> = {
  // `./bgc db setup`: packages/db/src/cli.ts reads the role URLs and the superuser's BGC_PG_URL
  migrate: { shape: { ...databaseEnv, PG_URL: infraEnv.PG_URL } },
  'write-api': { shape: writeApiEnv, port: 'WRITE_API_PORT', bind: 'WRITE_API_HOST' },
  cdc: { shape: cdcEnv, port: 'CDC_METRICS_PORT', bind: 'CDC_HOST' },
  'cache-projector': { shape: projectorEnv, port: 'PROJECTOR_METRICS_PORT', bind: 'PROJECTOR_HOST' },
  'feed-builder': { shape: feedBuilderEnv, port: 'FEED_METRICS_PORT', bind: 'FEED_HOST' },
  'read-api': { shape: readApiEnv, port: 'READ_API_PORT', bind: 'READ_API_HOST' },
  'partition-maintainer': {
    shape: maintainerEnv,
    port: 'PARTITION_MAINTAINER_METRICS_PORT',
    bind: 'PARTITION_MAINTAINER_HOST',
  },
};

function envOf(service: string): Record<string, string> {
  const env = compose.services[service]?.environment ?? {};
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

/** A project service's settings as its process would load them inside compose (throws on an invalid value). */
function configOf(service: string): Record<string, unknown> {
  return loadEnv(project[service]?.shape ?? {}, envOf(service));
}

/** The port a native service listens on inside its container, as its compose settings say. */
function containerPortOf(service: string): number {
  const key = project[service]?.port;
  if (!key) throw new Error(`${service} serves no port`);
  return Number(configOf(service)[key]);
}

const nativePort = (s: { address: string }) => Number(s.address.split(':').pop());

/** Which compose service publishes each native port, and from which container port. */
const expected: Record<Exclude<LocalPortName, 'kafkaController'>, [service: string, containerPort: number]> = {
  postgresPrimary: ['postgres', 5432],
  postgresReplica: ['replica', 5432],
  pgbouncer: ['pgbouncer', 5432],
  redis: ['redis', 6379],
  redisStore: ['redis-store', 6379],
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
    // the project's services: the host port `./bgc start` gives each, onto the port its settings make it listen on
    for (const s of nativeServices) {
      const hostPort = nativePort(s);
      const containerPort = containerPortOf(s.name);
      expect(ports, `${s.name} (${hostPort})`).toContainEqual({
        service: s.name,
        host: '127.0.0.1',
        hostPort,
        containerPort,
      });
    }
    expect(ports).toHaveLength(Object.keys(expected).length + nativeServices.length);
  });

  test('every native stack component is the compose service of the same name, on its host port', () => {
    const ports = published();
    for (const c of nativeComponents) {
      expect(
        ports.filter((p) => p.service === c.name).map((p) => p.hostPort),
        c.name,
      ).toContain(nativePort(c));
    }
  });

  test('each Redis role runs with the policy and persistence of its native template', () => {
    // what Redis assumes for a setting neither side names (`save` has none here: both must switch snapshots off)
    const redisDefaults: Record<string, string> = {
      maxmemory: '0',
      'maxmemory-policy': 'noeviction',
      appendonly: 'no',
      appendfsync: 'everysec',
    };
    const roles = { redis: 'redis.conf', 'redis-store': 'redis-store.conf' };
    for (const [service, template] of Object.entries(roles)) {
      const native = new Map(
        read(`deploy/local/config/redis/${template}`)
          .split('\n')
          .flatMap((line) => {
            const m = /^([\w-]+)\s+(.*?)\s*$/.exec(line);
            return m ? [[m[1] ?? '', (m[2] ?? '').replace(/^"(.*)"$/, '$1')] as const] : [];
          }),
      );
      const [program, ...args] = compose.services[service]?.command ?? [];
      expect(program, service).toBe('redis-server');
      const flags = new Map<string, string>();
      for (let i = 0; i < args.length; i += 2) flags.set((args[i] ?? '').replace(/^--/, ''), args[i + 1] ?? '');
      for (const key of ['maxmemory', 'maxmemory-policy', 'appendonly', 'appendfsync', 'save']) {
        const want = native.get(key) ?? redisDefaults[key];
        const got = flags.get(key) ?? redisDefaults[key];
        // natively the stack manager sizes the cache (BGC_REDIS_CACHE_MAXMEMORY); compose fixes a size
        if (want?.startsWith('{{')) expect(got, `${service}: ${key}`).toMatch(/^[1-9]\d*(?:[kmg]b?)?$/i);
        else expect(got, `${service}: ${key}`).toBe(want);
      }
    }
    // the store keeps its append-only file in a named volume; the cache keeps nothing
    expect(compose.services['redis-store']?.volumes).toContain('redis-store:/data');
    expect(compose.services.redis?.volumes).toBeUndefined();
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
      'redis-store': 6379,
      jaeger: 4318,
    };
    const urls = [
      parsed.PG_URL,
      parsed.PG_REPLICA_URL,
      parsed.PG_POOLER_URL,
      parsed.REDIS_URL,
      parsed.REDIS_STORE_URL,
      parsed.OTLP_URL,
    ];
    for (const url of urls) {
      const u = new URL(url);
      expect(compose.services[u.hostname], url).toBeDefined();
      expect(Number(u.port), url).toBe(inside[u.hostname]);
    }
    for (const broker of parsed.KAFKA_BROKERS) expect(compose.services[broker.split(':')[0] ?? '']).toBeDefined();
  });

  test('every BGC_ variable a compose service sets is a known config variable, read by that service', () => {
    const names = (shape: EnvShape) => Object.keys(shape).map((k) => `BGC_${k}`);
    const known = new Set([infraEnv, databaseEnv, ...Object.values(project).map((p) => p.shape)].flatMap(names));
    for (const [name, s] of Object.entries(compose.services)) {
      for (const key of Object.keys(s.environment ?? {}).filter((k) => k.startsWith('BGC_'))) {
        expect(known.has(key), `${name} sets unknown ${key}`).toBe(true);
      }
    }
    // beyond the shared block, a project service sets only what its own process reads
    const shared = new Set(Object.keys(compose['x-bgc-infra-env']));
    for (const [name, { shape }] of Object.entries(project)) {
      const own = new Set(names(shape));
      for (const key of Object.keys(envOf(name)).filter((k) => !shared.has(k))) {
        expect(own.has(key), `${name} sets ${key}, which it does not read`).toBe(true);
      }
    }
  });

  test('project services reach each endpoint by its compose name, as the same role, and listen beyond loopback', () => {
    // a native host port names the compose service (and its port inside the network) that serves it
    const byNativePort = new Map<number, [service: string, containerPort: number]>(
      Object.entries(expected).map(([name, target]) => [LOCAL_PORTS[name as LocalPortName], target]),
    );
    for (const [name, { shape, bind }] of Object.entries(project)) {
      const defaults: Record<string, unknown> = loadEnv(shape, {});
      const config = configOf(name);
      for (const [key, fallback] of Object.entries(defaults)) {
        if (typeof fallback !== 'string' || !/^\w+:\/\//.test(fallback)) continue;
        const native = new URL(fallback);
        if (native.hostname !== LOCAL_HOST) continue;
        // a default that points at 127.0.0.1 would point the container at itself
        expect(envOf(name), `${name} must set BGC_${key}`).toHaveProperty(`BGC_${key}`);
        const target = byNativePort.get(Number(native.port));
        expect(target, `${name}: BGC_${key}'s default port ${native.port} is no compose service`).toBeDefined();
        const url = new URL(String(config[key]));
        expect([url.hostname, Number(url.port)], `${name}: BGC_${key}`).toEqual(target);
        expect(url.username, `${name}: BGC_${key} connects as the role the native stack uses`).toBe(native.username);
      }
      if (bind) expect(config[bind], `${name}: BGC_${bind}`).toBe('0.0.0.0');
    }
  });

  test('the project services run the image of deploy/docker/Dockerfile with the entry points ./bgc uses', () => {
    for (const name of Object.keys(project)) {
      const s = compose.services[name];
      expect(s, name).toBeDefined();
      expect(s?.build?.dockerfile, name).toBe('deploy/docker/Dockerfile');
      expect(path.resolve(root, s?.build?.context ?? '-'), `${name}: build context`).toBe(root);
      expect(s?.command?.[0], name).toBe('node');
      // node's flags, then the entry point (a script of the repository)
      const entry = s?.command?.slice(1).find((arg) => !arg.startsWith('--')) ?? '-';
      expect(fs.existsSync(path.join(root, entry)), `${name}: ${s?.command?.join(' ')}`).toBe(true);
    }
    // `./bgc db <cmd>` runs `node <cli> <cmd>`; migrate is `./bgc db setup`
    const cli = /^\s*db\) shift; exec node (\S+) "\$@" ;;$/m.exec(read('bgc'))?.[1];
    expect(cli).toBeDefined();
    expect(compose.services.migrate?.command).toEqual(['node', cli, 'setup']);
    // every service `./bgc start` runs is in compose, on the same entry point, after a successful migrate, and
    // after the components it waits for natively (component names are compose service names)
    for (const s of nativeServices) {
      const c = compose.services[s.name];
      expect(c?.command, s.name).toEqual(s.command);
      expect(s.command.at(-1), s.name).toBe(`services/${s.name}/src/main.ts`);
      expect(c?.depends_on?.migrate?.condition, s.name).toBe('service_completed_successfully');
      for (const dep of s.after) expect(c?.depends_on, `${s.name} waits for ${dep}`).toHaveProperty(dep);
    }
    // a dependency with a healthcheck is waited for until healthy
    for (const [name, s] of Object.entries(compose.services)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        if (compose.services[dep]?.healthcheck && dep !== 'migrate') {
          expect(condition, `${name} -> ${dep}`).toBe('service_healthy');
        }
      }
    }
  });

  test('a service waited for as healthy has a healthcheck, and one waited for as completed is a one-shot job', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        const target = compose.services[dependency];
        expect(target, `${name} depends on ${dependency}, which is not a service`).toBeDefined();
        if (condition === 'service_healthy') {
          expect(target?.healthcheck, `${name} waits for ${dependency} to be healthy`).toBeDefined();
        }
        if (condition === 'service_completed_successfully') {
          expect([undefined, 'no'], `${name} waits for ${dependency} to complete`).toContain(target?.restart);
        }
      }
    }
  });

  test("each native service's healthcheck asks its /healthz with node (the slim image has no curl)", () => {
    for (const s of nativeServices) {
      const check = compose.services[s.name]?.healthcheck?.test ?? [];
      expect(check.slice(0, 3), s.name).toEqual(['CMD', 'node', '-e']);
      expect(check[3], s.name).toContain(`'http://127.0.0.1:${containerPortOf(s.name)}/healthz'`);
    }
  });

  test('the Dockerfile uses the Node.js major and the pnpm ./bgc fetches, generates Prisma as ./bgc does', () => {
    const dockerfile = read('deploy/docker/Dockerfile');
    const nodeMajor = /^FROM node:(\d+)[-.]/m.exec(dockerfile)?.[1];
    expect(nodeMajor).toBe(read('.node-version').trim().split('.')[0]);
    const pnpm = /^RUN corepack .*\bcorepack prepare pnpm@(\S+) --activate$/m.exec(dockerfile)?.[1];
    expect(`pnpm@${pnpm}`).toBe((JSON.parse(read('package.json')) as { packageManager: string }).packageManager);
    expect(dockerfile).toMatch(/^RUN pnpm install --frozen-lockfile\b/m);
    const generate = /pnpm --filter @bgc\/prisma run generate/;
    expect(read('bgc')).toMatch(generate);
    expect(dockerfile).toMatch(generate);
    const users = [...dockerfile.matchAll(/^USER (\S+)$/gm)].map((m) => m[1]);
    expect(users.at(-1)).toBeDefined();
    expect(['root', '0']).not.toContain(users.at(-1));
    const ignored = read('.dockerignore').split('\n');
    for (const entry of ['**/node_modules', '.stack', '.git', 'packages/db/src/generated']) {
      expect(ignored, `.dockerignore: ${entry}`).toContain(entry);
    }
  });

  test("Prometheus in compose scrapes each native service's metrics port, in the native stack's job", () => {
    const prometheus = compose.services.prometheus;
    const mount = prometheus?.volumes?.find((v) => v.split(':')[1] === '/etc/prometheus/prometheus.yml');
    expect(prometheus?.command).toContain('--config.file=/etc/prometheus/prometheus.yml');
    type ScrapeConfig = {
      job_name: string;
      static_configs?: { targets: string[]; labels?: Record<string, string> }[];
      file_sd_configs?: unknown[];
    };
    const jobsOf = (file: string) => (parse(read(file)) as { scrape_configs: ScrapeConfig[] }).scrape_configs;
    // natively, the services are the file-discovered job
    const job = jobsOf('deploy/local/config/prometheus/prometheus.yml').find((j) => j.file_sd_configs)?.job_name;
    expect(job).toBeDefined();
    const targets = jobsOf(mount?.split(':')[0] ?? '-').flatMap((j) =>
      (j.static_configs ?? []).flatMap((c) =>
        c.targets.map((target) => ({ job: j.job_name, target, service: c.labels?.service })),
      ),
    );
    for (const s of nativeServices) {
      expect(targets).toContainEqual({ job, target: `${s.name}:${containerPortOf(s.name)}`, service: s.name });
    }
  });

  test('images run the versions the native stack runs', () => {
    const tag = (service: string) => compose.services[service]?.image.split(':')[1] ?? '';
    expect(tag('kafka')).toBe(kafkaVersion());
    expect(tag('postgres')).toBe(String(POSTGRES_MAJOR));
    expect(tag('replica')).toBe(String(POSTGRES_MAJOR));
    expect(tag('redis').split('.')[0]).toBe('7');
    expect(tag('redis-store')).toBe(tag('redis'));
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
