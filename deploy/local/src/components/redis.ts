/** Redis 7 (Debian) with an append-only file, so data survives `stack down` / `stack up`. */
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { LOCAL_HOST, LOCAL_PORTS } from '@bgc/config/local-stack';
import type { Health } from '../component.ts';
import { render } from '../proc.ts';
import { CONFIG_DIR, STATE_DIR } from '../settings.ts';
import { DaemonComponent } from './daemon.ts';

const dir = path.join(STATE_DIR, 'redis');

export class RedisServer extends DaemonComponent {
  readonly name = 'redis';
  readonly port = LOCAL_PORTS.redis;
  readonly after = [];
  readonly apt = [{ bin: '/usr/bin/redis-server', pkg: 'redis-server' }];

  protected program() {
    return { cmd: '/usr/bin/redis-server', args: [path.join(dir, 'redis.conf')], match: 'redis-server' };
  }

  protected configure(): void {
    fs.mkdirSync(dir, { recursive: true });
    const template = fs.readFileSync(path.join(CONFIG_DIR, 'redis', 'redis.conf'), 'utf8');
    fs.writeFileSync(path.join(dir, 'redis.conf'), render(template, { PORT: this.port, STATE_DIR: dir }));
  }

  async health(): Promise<Health> {
    const client = redisClient(this.port);
    try {
      await client.connect();
      const version = /redis_version:(\S+)/.exec(await client.info('server'))?.[1];
      return { ok: version !== undefined, detail: `Redis ${version ?? '?'}` };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    } finally {
      client.disconnect();
    }
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
