/**
 * The feed builder: a Kafka consumer group on the CDC topics of status updates, relationships and users that keeps
 * the home feeds (`fanout.ts`), plus a loop that rebuilds the feeds readers asked for (`rebuild.ts`).
 *
 * Chunks are applied one at a time (one partition's batch at a time, and a rebuild only between chunks): a chunk
 * waits for the replica to replay its newest commit, reads what it needs, and its writes are acknowledged by Redis
 * before the next chunk reads anything. So a decision read before another event's is written before it too, and
 * the newer one wins on the guards. An offset is resolved only after Redis acknowledged the writes of its chunk: a
 * crash re-reads what was not applied, and the guards make the re-read a no-op where it was.
 */
import type { Span } from '@opentelemetry/api';
import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { Redis } from 'ioredis';
import type { EachBatchPayload, KafkaMessage } from 'kafkajs';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { feedKeyspace } from '@bgc/cache/feed-keys';
import { eventSequence } from '@bgc/cache/feed-score';
import type { FeedRedis } from '@bgc/cache/feed-scripts';
import { FeedWrites, registerFeedScripts } from '@bgc/cache/feed-scripts';
import { changedKeys, publishInvalidations, recordingKeys } from '@bgc/cache/invalidation';
import { connectCacheRedis } from '@bgc/cache/redis-client';
import type { ScriptedCluster, ScriptedPipeline, ScriptedRedis, WriteBatch } from '@bgc/cache/scripts';
import { registerScripts, scriptedPipeline, writeBatch } from '@bgc/cache/scripts';
import type { ChangeEvent } from '@bgc/events/envelope';
import { tableTopic } from '@bgc/events/topics';
import { waitForTopics } from '@bgc/events/topics-ready';
import type { Service } from '@bgc/runtime/service';
import { createLogger } from '@bgc/telemetry/logger';
import { createRegistry } from '@bgc/telemetry/metrics';
import { serveMetrics } from '@bgc/telemetry/metrics-server';
import type { FeedBuilderConfig, FeedSettings } from './config.ts';
import { feedSettings } from './config.ts';
import type { ChunkWrites, FeedTable } from './fanout.ts';
import { Fanout, FEED_TABLES, UnusableEvent } from './fanout.ts';
import type { FeedMetrics } from './metrics.ts';
import { createFeedMetrics } from './metrics.ts';
import { PulledAuthors } from './pulled.ts';
import { ReplicaClock } from './replica.ts';
import type { RebuildDeps } from './rebuild.ts';
import { moreRequests, nextRequest, rebuildFeed } from './rebuild.ts';
import { Serial } from './serial.ts';

const tracer = trace.getTracer('bgc-feed-builder');

/**
 * Feed writes per pipeline at most: a post to an audience of thousands is that many feed writes (a script call per
 * `ADD_BATCH` of them, `feed-scripts.ts`), sent (in order) in pipelines of this size rather than held in memory all
 * at once.
 */
const FLUSH_WRITES = 5000;

/** The store Redis with both script sets defined on it. */
type StoreClient = FeedRedis & ScriptedRedis;

/** Whether a W3C traceparent asks for a trace (its sampled flag): only then is a span made. */
const sampled = (traceparent: string) => (Number.parseInt(traceparent.slice(-2), 16) & 1) === 1;

/** The commit LSN of an event's `source.sequence` (`["<commit lsn>","<index>"]`). */
const commitLsn = (sequence: string) => BigInt(/^\["(\d+)"/.exec(sequence)?.[1] ?? '0');

interface Parsed {
  message: KafkaMessage;
  event: ChangeEvent | undefined;
  sequence: string;
  error: string | undefined;
  span: Span | undefined;
}

export class FeedBuilder implements Service {
  readonly name = 'feed-builder';
  readonly #config: FeedBuilderConfig;
  readonly #settings: FeedSettings;
  readonly #abort = new AbortController();
  readonly #logger;
  readonly #registry = createRegistry('feed-builder');
  readonly #metrics: FeedMetrics;
  /** chunks and rebuilds take turns (see the file's comment) */
  readonly #serial = new Serial();
  #consuming = false;

  constructor(config: FeedBuilderConfig) {
    this.#config = config;
    this.#settings = feedSettings(config);
    this.#logger = createLogger({ service: this.name, level: config.LOG_LEVEL });
    this.#metrics = createFeedMetrics(this.#registry);
  }

  async run(): Promise<void> {
    const cfg = this.#config;
    const server = await serveMetrics(this.#registry, {
      port: cfg.FEED_METRICS_PORT,
      host: cfg.FEED_HOST,
      health: () => ({ ok: this.#consuming }),
    });
    this.#logger.info({ url: server.url }, 'listening');
    const keys = feedKeyspace(cfg.FEED_KEY_PREFIX);
    const redisOptions = { maxRetriesPerRequest: 3, lazyConnect: true };
    const cache = connectCacheRedis({
      url: cfg.REDIS_URL,
      clusterNodes: cfg.FEED_REDIS_CLUSTER_NODES,
      maxRetriesPerRequest: redisOptions.maxRetriesPerRequest,
    });
    // the store runs the feed scripts and the projector's capped-list scripts (the pulled authors' lists)
    const storeClient = new Redis(cfg.REDIS_STORE_URL, redisOptions);
    registerScripts(storeClient);
    const store = registerFeedScripts(storeClient) as StoreClient;
    // a blocking pop holds its connection: the rebuild requests get one of their own
    const blocking = new Redis(cfg.REDIS_STORE_URL, { lazyConnect: true, maxRetriesPerRequest: null });
    cache.on('error', (err: Error) => this.#logger.warn({ err: err.message }, 'redis'));
    for (const [name, r] of [
      ['redis store', store],
      ['redis store (rebuilds)', blocking],
    ] as const) {
      r.on('error', (err: Error) => this.#logger.warn({ err: err.message }, name));
    }
    const db = new pg.Pool({
      connectionString: cfg.DB_READER_URL,
      max: cfg.FEED_DB_POOL_MAX,
      application_name: this.name,
      options: '-c TimeZone=UTC',
    });
    db.on('error', (err) => this.#logger.warn({ err: err.message }, 'idle connection failed'));
    const clock = new ReplicaClock(db);
    const pulled = new PulledAuthors(store, keys);
    const fanout = new Fanout({ db, store, keys, prefix: cfg.FEED_KEY_PREFIX, settings: this.#settings, pulled });
    const kafka = new Kafka({
      clientId: 'bgc-feed-builder',
      brokers: cfg.KAFKA_BROKERS,
      logLevel: logLevel.WARN,
      retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5000 },
    });
    const consumer = kafka.consumer({
      groupId: cfg.FEED_GROUP,
      sessionTimeout: cfg.FEED_SESSION_TIMEOUT_MS,
      heartbeatInterval: Math.max(500, Math.floor(cfg.FEED_SESSION_TIMEOUT_MS / 10)),
      maxWaitTimeInMs: cfg.FEED_FETCH_MAX_WAIT_MS,
      minBytes: cfg.FEED_FETCH_MIN_BYTES,
    });
    let rebuilding: Promise<void> | undefined;
    try {
      await Promise.all([cache.connect(), store.connect(), blocking.connect()]);
      await pulled.load();
      this.#metrics.pulledAuthors.set(pulled.size);
      const topics = FEED_TABLES.map((t) => tableTopic(cfg.FEED_TOPIC_PREFIX, 'public', t));
      await this.#waitForTopics(kafka, topics);
      await consumer.connect();
      await consumer.subscribe({ topics, fromBeginning: cfg.FEED_FROM_BEGINNING });
      const crashed = new Promise<never>((_, reject) => {
        consumer.on(consumer.events.CRASH, ({ payload }) => {
          if (!payload.restart) reject(payload.error);
        });
      });
      await consumer.run({
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        ...(cfg.FEED_COMMIT_INTERVAL_MS > 0 ? { autoCommitInterval: cfg.FEED_COMMIT_INTERVAL_MS } : {}),
        eachBatch: (payload) =>
          this.#applyBatch(payload, { db, clock, fanout, store, cache, pulled }).catch((err: unknown) => {
            this.#metrics.errors.inc({ code: (err as { code?: string }).code ?? (err as Error).name });
            this.#logger.warn({ err, topic: payload.batch.topic }, 'batch failed; it will be read again');
            throw err;
          }),
      });
      rebuilding = this.#rebuildLoop(blocking, { db, store, keys, settings: this.#settings, pulled, clock });
      this.#consuming = true;
      this.#logger.info({ topics, group: cfg.FEED_GROUP }, 'consuming');
      const stopped = new Promise<void>((resolve) =>
        this.#abort.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      await Promise.race([stopped, crashed, rebuilding]);
    } finally {
      this.#consuming = false;
      this.#abort.abort();
      await consumer.disconnect().catch(() => undefined);
      blocking.disconnect();
      await rebuilding?.catch(() => undefined);
      cache.disconnect();
      store.disconnect();
      await db.end().catch(() => undefined);
      server.close();
      this.#logger.info('stopped');
      this.#logger.flush();
    }
  }

  stop(): Promise<void> {
    this.#abort.abort();
    return Promise.resolve();
  }

  async #waitForTopics(kafka: Kafka, topics: string[]) {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await waitForTopics(admin, topics, {
        signal: this.#abort.signal,
        onMissing: (missing) => this.#logger.warn({ missing }, 'waiting for the CDC service to create its topics'),
      });
    } finally {
      await admin.disconnect();
    }
  }

  async #rebuildLoop(blocking: Redis, deps: RebuildDeps): Promise<void> {
    const concurrency = this.#config.FEED_REBUILD_CONCURRENCY;
    while (!this.#abort.signal.aborted) {
      let users: string[];
      try {
        const first = await nextRequest(blocking, deps.keys, 1);
        if (first === null) continue;
        // the requests waiting behind it (a cold start asks for many feeds at once) are built with it
        users = [...new Set([first, ...(await moreRequests(blocking, deps.keys, concurrency - 1))])];
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        this.#logger.warn({ err: (err as Error).message }, 'rebuild requests unreadable; retrying');
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      // together as one task between two chunks: different users' feeds, each its own snapshot and replica position,
      // and no chunk's fan-out decision can fall between a build's snapshot and its write
      this.#metrics.rebuildGroup.observe(users.length);
      await this.#serial.run(() => Promise.all(users.map((userId) => this.#rebuildOne(deps, userId))));
    }
  }

  async #rebuildOne(deps: RebuildDeps, userId: string): Promise<void> {
    const started = performance.now();
    try {
      const done = await rebuildFeed(deps, userId);
      this.#metrics.rebuilds.inc({ outcome: done.outcome });
      if (done.outcome === 'built') {
        this.#metrics.rebuildSeconds.observe((performance.now() - started) / 1000);
        this.#metrics.feedSize.observe(done.entries);
      }
      this.#logger.debug({ userId, ...done }, 'rebuild');
    } catch (err) {
      // the lease runs out and the read API asks again
      this.#metrics.rebuilds.inc({ outcome: 'failed' });
      this.#metrics.errors.inc({ code: (err as { code?: string }).code ?? (err as Error).name });
      this.#logger.warn({ err, userId }, 'rebuild failed');
    }
  }

  async #applyBatch(
    payload: EachBatchPayload,
    deps: {
      db: pg.Pool;
      clock: ReplicaClock;
      fanout: Fanout;
      store: StoreClient;
      cache: ScriptedRedis | ScriptedCluster;
      pulled: PulledAuthors;
    },
  ): Promise<void> {
    const { batch } = payload;
    const table = batch.topic.slice(batch.topic.lastIndexOf('.') + 1) as FeedTable;
    this.#metrics.lag.set({ topic: batch.topic, partition: String(batch.partition) }, Number(batch.offsetLag()));
    const size = this.#config.FEED_PIPELINE_EVENTS;
    for (let from = 0; from < batch.messages.length; from += size) {
      if (!payload.isRunning() || payload.isStale()) return;
      const chunk = batch.messages.slice(from, from + size).map((m) => this.#parse(table, m));
      // the newest commit of the chunk: the replica must have replayed it before anything is read
      let wanted = 0n;
      for (const p of chunk) {
        const lsn = p.event ? commitLsn(p.event.source.sequence) : 0n;
        if (lsn > wanted) wanted = lsn;
      }
      const counts = await this.#serial.run(async () => {
        const waitStarted = performance.now();
        await deps.clock.waitFor(wanted, this.#config.FEED_REPLICA_WAIT_MS, this.#abort.signal);
        this.#metrics.replicaWait.observe((performance.now() - waitStarted) / 1000);
        deps.fanout.newChunk();
        deps.fanout.prefetch(
          table,
          chunk.flatMap((p) => (p.event ? [p.event] : [])),
        );
        const fresh = (): ChunkWrites => ({
          feeds: new FeedWrites(deps.store, feedKeyspace(this.#config.FEED_KEY_PREFIX), this.#settings.cap),
          posts: scriptedPipeline(deps.store),
          bodies: recordingKeys(writeBatch(deps.cache)),
        });
        let writes = fresh();
        let skipped = 0;
        let changed = 0;
        // one flush in flight while the next is built, so Redis applies one while this process builds the other
        // (both on the same connections, so Redis applies them in order)
        let inFlight: Promise<number> | undefined;
        for (const p of chunk) {
          if (!p.event) {
            if (p.error === undefined) skipped += 1; // a tombstone; an unparsable event is counted as unusable
            continue;
          }
          try {
            await deps.fanout.apply(table, p.event, p.sequence, writes);
          } catch (err) {
            if (!(err instanceof UnusableEvent)) throw err;
            p.error = err.message;
          }
          // a post to a large audience is many writes: they leave in pipelines of a bounded size, in order
          if (writes.feeds.queued >= FLUSH_WRITES) {
            const sending = this.#flush(writes, deps.cache);
            // its failure is seen where it is awaited, or the chunk fails before that and is read again
            sending.catch(() => undefined);
            if (inFlight) changed += await inFlight;
            inFlight = sending;
            writes = fresh();
          }
        }
        if (inFlight) changed += await inFlight;
        changed += await this.#flush(writes, deps.cache);
        return { skipped, changed };
      });
      this.#metrics.pulledAuthors.set(deps.pulled.size);
      this.#record(table, chunk, counts);
      const last = chunk.at(-1);
      if (last) payload.resolveOffset(last.message.offset);
      await payload.commitOffsetsIfNecessary();
      await payload.heartbeat();
    }
  }

  /** Sends a chunk's writes; resolves with how many feed writes changed a feed, once Redis acknowledged them all. */
  async #flush(writes: ChunkWrites, cache: ScriptedRedis | ScriptedCluster): Promise<number> {
    const [replies, , bodies] = await Promise.all([
      writes.feeds.exec(),
      execAll(writes.posts),
      applyAll(writes.bodies),
    ]);
    // after Redis acknowledged the bodies: the read APIs drop the ones that changed (edits and deletes; a new post's
    // is in no L1 yet) from their L1s. Best effort, as the projector's (a lost message is bounded by the L1's TTL);
    // not awaited, its answer changes nothing
    const changedBodies = changedKeys(writes.bodies.queuedKeys, bodies);
    publishInvalidations(cache, this.#config.FEED_KEY_PREFIX, changedBodies).catch((err: unknown) =>
      this.#logger.warn({ err, keys: changedBodies.length }, 'invalidations not published; readers’ L1 TTL bounds it'),
    );
    // counted per flush, not per write: a labelled counter's lookup is not free at thousands of writes a second
    const byLabel = new Map<string, number>();
    const count = (label: string, n: number) => {
      if (n > 0) byLabel.set(label, (byLabel.get(label) ?? 0) + n);
    };
    let changed = 0;
    for (const [i, { kind, feeds }] of writes.feeds.commands.entries()) {
      const reply = replies[i] ?? 0;
      // an add's reply counts the feeds it changed; another write's is above 0 when its one feed changed
      const n = kind === 'add' ? reply : reply > 0 ? 1 : 0;
      count(`${kind} true`, n);
      count(`${kind} false`, feeds - n);
      changed += n;
    }
    for (const [label, n] of byLabel) {
      const [kind = '', changedLabel = ''] = label.split(' ');
      this.#metrics.writes.inc({ kind, changed: changedLabel }, n);
    }
    return changed;
  }

  #parse(table: string, message: KafkaMessage): Parsed {
    const parsed: Parsed = { message, event: undefined, sequence: '', error: undefined, span: undefined };
    if (message.value === null) return parsed; // a delete's tombstone: the delete before it did the work
    const traceparent = message.headers?.traceparent?.toString();
    if (traceparent !== undefined && sampled(traceparent)) {
      parsed.span = tracer.startSpan(
        `feed-builder fan-out ${table}`,
        { kind: SpanKind.CONSUMER, attributes: { 'messaging.system': 'kafka', 'bgc.table': table } },
        propagation.extract(ROOT_CONTEXT, { traceparent }),
      );
    }
    try {
      const event = JSON.parse(message.value.toString()) as ChangeEvent;
      parsed.sequence = eventSequence(event.source.sequence);
      parsed.event = event;
    } catch (err) {
      parsed.error = err instanceof Error ? err.message : String(err);
    }
    return parsed;
  }

  #record(table: string, chunk: Parsed[], counts: { skipped: number; changed: number }) {
    const now = Date.now();
    let unusable = 0;
    for (const p of chunk) {
      if (p.error !== undefined) {
        unusable += 1;
        this.#logger.error({ table, offset: p.message.offset, error: p.error }, 'event skipped: unusable');
        p.span?.setStatus({ code: SpanStatusCode.ERROR, message: p.error });
      } else if (p.event) {
        const committedAt = p.event.source?.ts_ms;
        if (typeof committedAt === 'number') this.#metrics.commitToFeed.observe(Math.max(0, now - committedAt) / 1000);
      }
      p.span?.end();
    }
    const events = chunk.length - counts.skipped - unusable;
    if (counts.skipped > 0) this.#metrics.events.inc({ table, outcome: 'skipped' }, counts.skipped);
    if (unusable > 0) this.#metrics.events.inc({ table, outcome: 'unusable' }, unusable);
    if (events > 0) this.#metrics.events.inc({ table, outcome: counts.changed > 0 ? 'applied' : 'unchanged' }, events);
  }
}

/** Runs a pipeline; a write Redis refused fails the chunk (it is read again). */
async function execAll(pipeline: ScriptedPipeline): Promise<void> {
  if (pipeline.length === 0) return;
  for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
}

/** Sends a batch of guarded writes (nothing when none is queued); a write Redis refused fails the chunk, as above. */
async function applyAll(batch: WriteBatch): Promise<[Error | null, unknown][]> {
  const results = await batch.exec();
  for (const [err] of results) if (err) throw err;
  return results;
}
