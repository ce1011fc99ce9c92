/** The write API as a Service: listens until stop(), then drains in-flight requests and closes the pool. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@bgc/telemetry/logger';
import { createRegistry } from '@bgc/telemetry/metrics';
import type { Service } from '@bgc/runtime/service';
import { createApp } from './app.ts';
import type { WriteApiConfig } from './config.ts';
import { createDb } from './db.ts';
import { createMetrics } from './metrics.ts';

export class WriteApi implements Service {
  readonly name = 'write-api';
  readonly #config: WriteApiConfig;
  readonly #abort = new AbortController();
  readonly #db;
  readonly #logger;
  readonly #server: http.Server;
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
    const app = createApp({
      prisma: this.#db.prisma,
      pool: this.#db.pool,
      registry,
      metrics: createMetrics(registry, this.#db.pool),
      logger: this.#logger,
      settings: {
        tokenTtlHours: config.WRITE_API_TOKEN_TTL_HOURS,
        bodyLimitBytes: config.WRITE_API_BODY_LIMIT_BYTES,
        acquireTimeoutMs: config.WRITE_API_POOL_ACQUIRE_TIMEOUT_MS,
        batchMax: config.WRITE_API_BATCH_MAX,
        batchInFlight: config.WRITE_API_BATCH_IN_FLIGHT,
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
    // stop accepting, let in-flight requests finish, then release the database
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
    });
    await this.#db.prisma.$disconnect();
    await this.#db.pool.end();
    this.#logger.info('stopped');
    this.#logger.flush();
  }

  stop(): Promise<void> {
    this.#abort.abort();
    return Promise.resolve();
  }
}
