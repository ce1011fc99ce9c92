/**
 * The read API as a Service: opens the flags, the databases, both Redis servers and the invalidation channel,
 * listens until stop(), then drains in-flight requests and closes everything.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { CacheAside } from '@bgc/cache/cache-aside';
import { InvalidationListener } from '@bgc/cache/invalidation';
import type { GenerationWatcher } from '@bgc/cache/generation';
import { watchGenerations } from '@bgc/cache/generation';
import type { Keyspace } from '@bgc/cache/keys';
import { keyspace } from '@bgc/cache/keys';
import { L1Cache } from '@bgc/cache/l1-cache';
import { connectCacheRedis, subscriberRedis } from '@bgc/cache/redis-client';
import type { Service } from '@bgc/runtime/service';
import { createLogger } from '@bgc/telemetry/logger';
import { createRegistry } from '@bgc/telemetry/metrics';
import { createApp } from './app.ts';
import { authenticator } from './auth.ts';
import { asideKeys } from './cache-keys.ts';
import type { ReadApiConfig } from './config.ts';
import { createPool, DbRouter } from './db.ts';
import { Flags } from './flags.ts';
import { createMetrics, registerStateGauges } from './metrics.ts';
import { ProfileStore } from './profiles.ts';
import { StatusBodies } from './status-bodies.ts';
import { ReplicaPosition } from './replica-position.ts';
import type { Services } from './services.ts';
import { Visibility } from './visibility.ts';

/**
 * Entries derived from a projection are dropped again this long after its invalidation: a fill that read a replica
 * lagging behind the projector (the change's invalidation came first) cannot outlive the second drop.
 */
const REINVALIDATE_MS = 1000;
/** Total estimates are planner estimates: minutes old is fine. */
const ESTIMATE_TTL_MS = 5 * 60_000;

export class ReadApi implements Service {
  readonly name = 'read-api';
  readonly #config: ReadApiConfig;
  readonly #abort = new AbortController();
  readonly #logger;

  constructor(config: ReadApiConfig) {
    this.#config = config;
    this.#logger = createLogger({ service: this.name, level: config.LOG_LEVEL });
  }

  async run(): Promise<void> {
    const cfg = this.#config;
    const logger = this.#logger;
    const registry = createRegistry(this.name);
    const metrics = createMetrics(registry);
    const pool = (url: string, max: number, applicationName: string) =>
      createPool({ url, max, acquireTimeoutMs: cfg.READ_API_POOL_ACQUIRE_TIMEOUT_MS, applicationName });
    const pools = {
      replica: pool(cfg.DB_READER_URL, cfg.READ_API_POOL_MAX, this.name),
      primary: pool(cfg.DB_READER_PRIMARY_URL, cfg.READ_API_PRIMARY_POOL_MAX, `${this.name}-primary`),
    };
    for (const [name, p] of Object.entries(pools)) {
      p.on('error', (err) => logger.warn({ err: err.message, pool: name }, 'idle connection failed'));
    }
    const position = new ReplicaPosition(pools.replica, pools.primary, metrics, (err) =>
      logger.warn({ err: (err as Error).message }, 'replica position'),
    );
    const cacheRedis = {
      url: cfg.REDIS_URL,
      clusterNodes: cfg.READ_API_REDIS_CLUSTER_NODES,
      maxRetriesPerRequest: 2,
    };
    const redis = connectCacheRedis(cacheRedis);
    // the listener subscribes on a connection of its own, made from this one (never connected itself)
    const subscriber = subscriberRedis(cacheRedis);
    const store = new Redis(cfg.REDIS_STORE_URL, { maxRetriesPerRequest: 2, lazyConnect: true });
    redis.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis'));
    store.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis store'));
    const prefix = cfg.READ_API_KEY_PREFIX;
    const l1 = new L1Cache({
      maxEntries: cfg.READ_API_L1_ENTRIES,
      maxBytes: cfg.READ_API_L1_BYTES,
      ttlMs: cfg.READ_API_L1_TTL_MS,
    });
    const lookup = (keyspace: string, outcome: Parameters<Services['lookup']>[1]) =>
      metrics.cacheLookups.inc({ keyspace, outcome });
    const onError = (keyspace: string, err: unknown) =>
      logger.warn({ keyspace, err: err instanceof Error ? err.message : String(err) }, 'cache-aside: redis failed');
    const hot = new CacheAside(redis, { ttlMs: cfg.READ_API_DERIVED_TTL_MS, l1, onLookup: lookup, onError });
    const pages = new CacheAside(redis, { ttlMs: cfg.READ_API_LIST_TTL_MS, onLookup: lookup, onError });
    const estimates = new CacheAside(redis, { ttlMs: ESTIMATE_TTL_MS, onLookup: lookup, onError });
    // the projections of the live generation (a rebuild switches it: `@bgc/cache/generation`); read per call, so
    // every reader follows a switch at once
    let generations: GenerationWatcher | undefined;
    const live = (): Keyspace => generations?.keys() ?? keyspace(prefix);
    const keys = Object.fromEntries(
      (Object.keys(keyspace(prefix)) as (keyof Keyspace)[]).map((name) => [name, (id: string) => live()[name](id)]),
    ) as unknown as Keyspace;
    const aside = asideKeys(prefix);
    const reinvalidations = new Set<NodeJS.Timeout>();
    const invalidate = (derived: { hot: string[]; pages: string[] }) =>
      Promise.all([hot.invalidate(derived.hot), pages.invalidate(derived.pages)]).catch((err: unknown) =>
        logger.warn({ err: (err as Error).message }, 'invalidation failed'),
      );
    const listener = new InvalidationListener(subscriber, prefix, {
      onKeys: (changed) => {
        const derived = { hot: [] as string[], pages: [] as string[] };
        for (const key of changed) {
          l1.delete(key); // a profile document or a status body
          const d = aside.derivedFrom(key);
          derived.hot.push(...d.hot);
          derived.pages.push(...d.pages);
        }
        if (derived.hot.length + derived.pages.length === 0) return;
        void invalidate(derived);
        const again = setTimeout(() => {
          reinvalidations.delete(again);
          void invalidate(derived);
        }, REINVALIDATE_MS);
        reinvalidations.add(again);
      },
      onReset: (reason) => {
        l1.clear();
        logger.warn({ reason }, 'invalidation channel interrupted: L1 cleared');
      },
    });
    registerStateGauges(registry, { pools, l1 });

    let flags: Flags | undefined;
    const server = http.createServer();
    try {
      flags = await Flags.open(cfg.READ_API_FLAGS_FILE, logger);
      await Promise.all([redis.connect(), store.connect()]);
      generations = await watchGenerations(store, prefix, {
        onChange: (now, before) => {
          if (now.live === before.live) return;
          l1.clear(); // it holds documents of the generation that was live
          logger.info({ live: now.live, before: before.live }, 'projections: the live generation changed');
        },
        onError: (err) => logger.warn({ err: (err as Error).message }, 'generation pointer'),
      });
      await listener.start();
      position.start(cfg.READ_API_LAG_POLL_MS);
      const routing = new DbRouter(pools, position, metrics, cfg.READ_API_LSN_WAIT_MS);
      const services: Services = {
        authenticate: authenticator(pools, { cacheSeconds: 10, cacheEntries: 100_000 }),
        routing,
        flags,
        keys,
        aside,
        redis,
        store,
        profiles: new ProfileStore({
          redis,
          keys,
          l1,
          documentTtlMs: cfg.READ_API_DOCUMENT_TTL_SECONDS * 1000,
          onLookup: (outcome) => lookup('profile', outcome),
        }),
        bodies: new StatusBodies({
          redis,
          l1,
          prefix,
          onLookups: (outcome, n) => metrics.cacheLookups.inc({ keyspace: 'status', outcome }, n),
        }),
        visibility: new Visibility({ redis, keys, aside, cache: hot, onBypass: (ks) => lookup(ks, 'bypass') }),
        pages,
        estimates,
        metrics,
        lookup,
        settings: { presenceTtlMs: cfg.READ_API_PRESENCE_TTL_MS },
        feedPrefix: prefix,
      };
      server.on(
        'request',
        createApp({ services, registry, metrics, logger, slowRequestMs: cfg.READ_API_SLOW_REQUEST_MS }),
      );
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(cfg.READ_API_PORT, cfg.READ_API_HOST, () => resolve());
      });
      const { address, port } = server.address() as AddressInfo;
      logger.info(
        { url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`, flags: flags.all },
        'listening',
      );
      await new Promise<void>((resolve) =>
        this.#abort.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      // stop accepting, let in-flight requests finish, then release everything
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    } finally {
      server.close();
      for (const t of reinvalidations) clearTimeout(t);
      position.stop();
      await listener.stop();
      subscriber.disconnect();
      await generations?.close();
      await flags?.close();
      await Promise.allSettled([redis.quit(), store.quit()]);
      await Promise.allSettled([pools.replica.end(), pools.primary.end()]);
      logger.info('stopped');
      logger.flush();
    }
  }

  stop(): Promise<void> {
    this.#abort.abort();
    return Promise.resolve();
  }
}
