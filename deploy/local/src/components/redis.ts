/**
 * Redis 7 (Debian) in two roles, one server each, from the templates in config/redis:
 *   - `redis`, the cache: projections and cache-aside entries; bounded by `maxmemory` and evicting (allkeys-lfu),
 *     nothing persisted, since everything in it can be rebuilt from Postgres or Kafka;
 *   - `redis-store`, the store: feeds and presence, expensive to rebuild; never evicts (noeviction) and keeps an
 *     append-only file, so its data survives `stack down` / `stack up`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { LOCAL_HOST, LOCAL_PORTS } from '@bgc/config/local-stack';
import type { Health } from '../component.ts';
import { render } from '../proc.ts';
import { CONFIG_DIR, REDIS_CACHE_MAXMEMORY, STATE_DIR } from '../settings.ts';
import { DaemonComponent } from './daemon.ts';

/**
 * The settings that make a server its role. `up` applies them (CONFIG SET) to a server it finds already running,
 * so a changed template or BGC_REDIS_CACHE_MAXMEMORY takes effect without a restart.
 */
const ROLE_SETTINGS = ['maxmemory', 'maxmemory-policy', 'appendonly', 'appendfsync', 'save'];

abstract class RedisServer extends DaemonComponent {
  readonly after = [];
  readonly apt = [{ bin: '/usr/bin/redis-server', pkg: 'redis-server' }];
  /** Its template's file name in config/redis. */
  protected abstract readonly template: string;
  protected abstract vars(): Record<string, string | number>;

  private get dir() {
    return path.join(STATE_DIR, this.name);
  }

  protected program() {
    // Redis retitles its process "<binary> <address>": the address tells the two servers apart by pid
    return {
      cmd: '/usr/bin/redis-server',
      args: [path.join(this.dir, 'redis.conf')],
      match: `redis-server ${LOCAL_HOST}:${this.port}`,
    };
  }

  private rendered(): string {
    const template = fs.readFileSync(path.join(CONFIG_DIR, 'redis', this.template), 'utf8');
    return render(template, { PORT: this.port, STATE_DIR: this.dir, ...this.vars() });
  }

  protected configure(): void {
    fs.mkdirSync(this.dir, { recursive: true });
    fs.writeFileSync(path.join(this.dir, 'redis.conf'), this.rendered());
  }

  override async start(): Promise<'started' | 'running'> {
    const outcome = await super.start();
    if (outcome === 'running') await this.applyRoleSettings();
    return outcome;
  }

  /** Brings a running server's role settings (and its config file) in line with the template. */
  private async applyRoleSettings(): Promise<void> {
    this.configure();
    const pairs: string[] = [];
    for (const line of this.rendered().split('\n')) {
      const m = /^([\w-]+)\s+(.*?)\s*$/.exec(line);
      if (m?.[1] && ROLE_SETTINGS.includes(m[1])) pairs.push(m[1], (m[2] ?? '').replace(/^"(.*)"$/, '$1'));
    }
    if (pairs.length === 0) return;
    const client = redisClient(this.port);
    try {
      await client.connect();
      await client.config('SET', ...pairs);
    } finally {
      client.disconnect();
    }
  }

  async health(): Promise<Health> {
    const client = redisClient(this.port);
    try {
      await client.connect();
      const info = await client.info();
      const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1];
      const version = field('redis_version');
      const limit = field('maxmemory') === '0' ? 'no maxmemory' : `maxmemory ${field('maxmemory_human') ?? '?'}`;
      const persistence = field('aof_enabled') === '1' ? 'AOF' : 'not persisted';
      return {
        ok: version !== undefined,
        detail: `Redis ${version ?? '?'}, ${field('maxmemory_policy') ?? '?'}, ${limit}, ${persistence}`,
      };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    } finally {
      client.disconnect();
    }
  }
}

/** The cache role (BGC_REDIS_URL). */
export class RedisCache extends RedisServer {
  readonly name = 'redis';
  readonly port = LOCAL_PORTS.redis;
  protected readonly template = 'redis.conf';
  protected vars() {
    return { MAXMEMORY: REDIS_CACHE_MAXMEMORY };
  }
}

/** The store role (BGC_REDIS_STORE_URL). */
export class RedisStore extends RedisServer {
  readonly name = 'redis-store';
  readonly port = LOCAL_PORTS.redisStore;
  protected readonly template = 'redis-store.conf';
  protected vars() {
    return {};
  }
}

/** A client that fails fast instead of reconnecting forever: right for health checks and one-off commands. */
export function redisClient(port: number): Redis {
  const client = new Redis({
    host: LOCAL_HOST,
    port,
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // failures surface as rejected commands; without a listener ioredis also prints them as "unhandled"
  client.on('error', () => undefined);
  return client;
}
