/** The write API as a Service: listens until stop(), then drains in-flight requests and closes the pool. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { generationPrefix, readGenerations, writtenGenerations } from '@bgc/cache/generation';
import { keyspace } from '@bgc/cache/keys';
import { connectCacheRedis } from '@bgc/cache/redis-client';
import type { ScriptedCluster, ScriptedRedis } from '@bgc/cache/scripts';
import { createLogger } from '@bgc/telemetry/logger';
import { createRegistry } from '@bgc/telemetry/metrics';
import type { Service } from '@bgc/runtime/service';
import { createApp } from './app.ts';
import type { WriteApiConfig } from './config.ts';
import { createDb } from './db.ts';
import { createMetrics } from './metrics.ts';
import { WriteThrough } from './write-through.ts';

export class WriteApi implements Service {
  readonly name = 'write-api';
  readonly #config: WriteApiConfig;
  readonly #abort = new AbortController();
  readonly #db;
  readonly #logger;
  readonly #server: http.Server;
  readonly #redis: ScriptedRedis | ScriptedCluster | undefined;
  readonly #store: Redis | undefined;
  #listening: Promise<void> | undefined;

  constructor(config: WriteApiConfig) {
    this.#config = config;
    this.#logger = createLogger({ service: this.name, level: config.LOG_LEVEL });
    this.#db = createDb({
      url: config.DB_WRITER_URL,
      max: config.WRITE_API_POOL_MAX,
      acquireTimeoutMs: config.WRITE_API_POOL_ACQUIRE_TIMEOUT_MS,
      applicationName: this.name,
    });
    const registry = createRegistry(this.name);
    const metrics = createMetrics(registry, this.#db.pool);
    this.#redis = config.WRITE_API_WRITE_THROUGH
      ? connectCacheRedis({
          url: config.REDIS_URL,
          clusterNodes: config.WRITE_API_REDIS_CLUSTER_NODES,
          maxRetriesPerRequest: 1,
          autoPipelining: true,
        })
      : undefined;
    const base = config.WRITE_API_CACHE_KEY_PREFIX;
    // the pointer to the live generation of the projections, and the one a rebuild is building (`@bgc/cache/generation`)
    this.#store = this.#redis && new Redis(config.REDIS_STORE_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    const store = this.#store;
    const writeThrough =
      this.#redis &&
      new WriteThrough(this.#db.pool, this.#redis, {
        keyPrefix: config.WRITE_API_CACHE_KEY_PREFIX,
        // read for every write-through: after a rebuild's switch, never the generation being deleted
        keyspaces: async () =>
          store
            ? writtenGenerations(await readGenerations(store, base)).map((g) => keyspace(generationPrefix(base, g)))
            : [],
        settings: {
          documentTtlMs: config.WRITE_API_DOCUMENT_TTL_SECONDS * 1000,
          tombstoneTtlMs: config.WRITE_API_TOMBSTONE_TTL_SECONDS * 1000,
          recentMessages: 0,
        },
        timeoutMs: config.WRITE_API_WRITE_THROUGH_TIMEOUT_MS,
        logger: this.#logger,
        onOutcome: (outcome) => metrics.writeThrough.inc({ outcome }),
      });
    const app = createApp({
      prisma: this.#db.prisma,
      pool: this.#db.pool,
      registry,
      metrics,
      writeThrough,
      logger: this.#logger,
      settings: {
        tokenTtlHours: config.WRITE_API_TOKEN_TTL_HOURS,
        slowRequestMs: config.WRITE_API_SLOW_REQUEST_MS,
        bodyLimitBytes: config.WRITE_API_BODY_LIMIT_BYTES,
        acquireTimeoutMs: config.WRITE_API_POOL_ACQUIRE_TIMEOUT_MS,
        batchMax: config.WRITE_API_BATCH_MAX,
        batchInFlight: config.WRITE_API_BATCH_IN_FLIGHT,
        batchIntervalMs: config.WRITE_API_BATCH_INTERVAL_MS,
      },
    });
    this.#server = http.createServer({ keepAliveTimeout: 65_000 }, app);
  }

  /** Resolves once the port is bound (tests and the runner wait for it). */
  listening(): Promise<void> {
    this.#listening ??= new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#config.WRITE_API_PORT, this.#config.WRITE_API_HOST, () => resolve());
    });
    return this.#listening;
  }

  get url(): string {
    const { address, port } = this.#server.address() as AddressInfo;
    return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
  }

  async run(): Promise<void> {
    await this.listening();
    this.#logger.info({ url: this.url }, 'listening');
    await new Promise<void>((resolve) => this.#abort.signal.addEventListener('abort', () => resolve(), { once: true }));
    // stop accepting, let in-flight requests finish, then release the database; a keep-alive connection is closed
    // as soon as its request is answered (else an idle client would hold the exit for the keep-alive timeout)
    const closeIdle = setInterval(() => this.#server.closeIdleConnections(), 50);
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
    });
    clearInterval(closeIdle);
    await this.#db.prisma.$disconnect();
    await this.#db.pool.end();
    this.#redis?.disconnect();
    this.#store?.disconnect();
    this.#logger.info('stopped');
    this.#logger.flush();
  }

  stop(): Promise<void> {
    this.#abort.abort();
    return Promise.resolve();
  }
}
