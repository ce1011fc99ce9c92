/**
 * The cache projector: a Kafka consumer group on the CDC topics that keeps the Redis projections
 * (`projections.ts`). Each batch of a partition becomes chunks of guarded writes in offset order, a few script calls
 * each (`writeBatch`); an offset is resolved and committed only after Redis has acknowledged every write of the
 * events up to it (and an event that cannot be applied is in the dead-letter topic), so a crash re-reads what was
 * not applied, and the version guards make the re-read a no-op where it was.
 */
import type { Span } from '@opentelemetry/api';
import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { Redis } from 'ioredis';
import type { EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { generationPrefix, readGenerations, writtenGenerations } from '@bgc/cache/generation';
import type { Keyspace } from '@bgc/cache/keys';
import { keyspace } from '@bgc/cache/keys';
import { changedKeys, publishInvalidations, recordingKeys } from '@bgc/cache/invalidation';
import type { ScriptedCluster, ScriptedRedis, WriteBatch } from '@bgc/cache/scripts';
import { writeBatch } from '@bgc/cache/scripts';
import { connectCacheRedis } from '@bgc/cache/redis-client';
import type { ChangeEvent } from '@bgc/events/envelope';
import { tableTopic } from '@bgc/events/topics';
import { waitForTopics } from '@bgc/events/topics-ready';
import type { Service } from '@bgc/runtime/service';
import { createLogger } from '@bgc/telemetry/logger';
import { createRegistry } from '@bgc/telemetry/metrics';
import { serveMetrics } from '@bgc/telemetry/metrics-server';
import type { ProjectorConfig } from './config.ts';
import { writeSettings } from './config.ts';
import type { ProjectorMetrics } from './metrics.ts';
import { createProjectorMetrics } from './metrics.ts';
import type { Write } from '@bgc/cache/projections';
import { PROJECTED_TABLES, projectEvent } from '@bgc/cache/projections';
import { queueWrite } from '@bgc/cache/queue-write';
import type { WriteSettings } from '@bgc/cache/queue-write';

const tracer = trace.getTracer('bgc-cache-projector');

export const deadLetterTopic = (prefix: string) => `${prefix}.dlq.cache-projector`;

/**
 * Runs a start-up step again while Kafka answers with a retriable error (a broker that has just created topics can
 * say "does not host this topic-partition" or "leader not available" for a few seconds), at most ~30 s.
 */
async function retryWhileSettling<T>(step: () => Promise<T>, signal: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      const retriable = (err as { retriable?: boolean }).retriable === true;
      if (!retriable || attempt >= 60 || signal.aborted) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** One event of a chunk: how many writes it queued (they follow the previous event's in the batch), and its fate. */
interface Planned {
  message: KafkaMessage;
  writes: number;
  /** the commit time of the event in Postgres (ms, `source.ts_ms`), when it says */
  committedAt: number | undefined;
  error: string | undefined;
  span: Span | undefined;
}

/**
 * Whether a W3C traceparent (`00-<trace>-<parent>-<flags>`) asks for a trace: only then is a span made. The tracer
 * samples by the parent's flag (`ParentBasedSampler`), so a span under an unsampled parent would record nothing
 * and cost a context extraction and a span object per event.
 */
const sampled = (traceparent: string) => (Number.parseInt(traceparent.slice(-2), 16) & 1) === 1;

/** The writes of an event in every keyspace written (the live generation, and a rebuild's while one builds). */
function projectAll(table: string, event: ChangeEvent, spaces: Keyspace[]): Write[] {
  const [only] = spaces;
  if (spaces.length === 1 && only) return projectEvent(table, event, only); // the usual case, without a copy
  const writes: Write[] = [];
  for (const keys of spaces) for (const w of projectEvent(table, event, keys)) writes.push(w);
  return writes;
}

export class CacheProjector implements Service {
  readonly name = 'cache-projector';
  readonly #config: ProjectorConfig;
  readonly #abort = new AbortController();
  readonly #logger;
  readonly #registry = createRegistry('cache-projector');
  readonly #metrics: ProjectorMetrics;
  /** the generations written (live, and the one a rebuild is filling) and their keyspaces, as last seen */
  #written: { generations: string; keys: Keyspace[] } = { generations: '', keys: [] };
  readonly #writeSettings: WriteSettings;
  #consuming = false;

  constructor(config: ProjectorConfig) {
    this.#config = config;
    this.#logger = createLogger({ service: this.name, level: config.LOG_LEVEL });
    this.#metrics = createProjectorMetrics(this.#registry);
    this.#writeSettings = writeSettings(config);
  }

  async run(): Promise<void> {
    const cfg = this.#config;
    const server = await serveMetrics(this.#registry, {
      port: cfg.PROJECTOR_METRICS_PORT,
      host: cfg.PROJECTOR_HOST,
      health: () => ({ ok: this.#consuming }),
    });
    this.#logger.info({ url: server.url }, 'listening');
    const redis = connectCacheRedis({
      url: cfg.REDIS_URL,
      clusterNodes: cfg.PROJECTOR_REDIS_CLUSTER_NODES,
      maxRetriesPerRequest: 3,
    });
    redis.on('error', (err: Error) => this.#logger.warn({ err: err.message }, 'redis'));
    const store = new Redis(cfg.REDIS_STORE_URL, { maxRetriesPerRequest: 3, lazyConnect: true });
    store.on('error', (err: Error) => this.#logger.warn({ err: err.message }, 'redis store'));
    const kafka = new Kafka({
      clientId: 'bgc-cache-projector',
      brokers: cfg.KAFKA_BROKERS,
      logLevel: logLevel.WARN,
      retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5000 },
    });
    const consumer = kafka.consumer({
      groupId: cfg.PROJECTOR_GROUP,
      maxBytesPerPartition: 4 * 1024 * 1024,
      sessionTimeout: cfg.PROJECTOR_SESSION_TIMEOUT_MS,
      maxWaitTimeInMs: cfg.PROJECTOR_FETCH_MAX_WAIT_MS,
      minBytes: cfg.PROJECTOR_FETCH_MIN_BYTES,
      heartbeatInterval: Math.max(500, Math.floor(cfg.PROJECTOR_SESSION_TIMEOUT_MS / 10)),
    });
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    try {
      await redis.connect();
      await store.connect();
      const topics = PROJECTED_TABLES.map((t) => tableTopic(cfg.PROJECTOR_TOPIC_PREFIX, 'public', t));
      await this.#prepareTopics(kafka, topics);
      await producer.connect();
      await consumer.connect();
      // a new group starts from the beginning: the compacted entity topics rebuild every projection
      await retryWhileSettling(() => consumer.subscribe({ topics, fromBeginning: true }), this.#abort.signal);
      const crashed = new Promise<never>((_, reject) => {
        consumer.on(consumer.events.CRASH, ({ payload }) => {
          if (!payload.restart) reject(payload.error);
        });
      });
      await consumer.run({
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: cfg.PROJECTOR_PARTITIONS_CONCURRENTLY,
        // 0: after every chunk
        ...(cfg.PROJECTOR_COMMIT_INTERVAL_MS > 0 ? { autoCommitInterval: cfg.PROJECTOR_COMMIT_INTERVAL_MS } : {}),
        eachBatch: (payload) =>
          this.#applyBatch(payload, redis, store, producer).catch((err: unknown) => {
            // kafkajs reads the batch again from the last resolved offset, with back-off; the guards make it safe
            this.#metrics.errors.inc({ code: (err as { code?: string }).code ?? (err as Error).name });
            this.#logger.warn({ err, topic: payload.batch.topic }, 'batch failed; it will be read again');
            throw err;
          }),
      });
      this.#consuming = true;
      this.#logger.info({ topics, group: cfg.PROJECTOR_GROUP }, 'consuming');
      const stopped = new Promise<void>((resolve) =>
        this.#abort.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      await Promise.race([stopped, crashed]);
    } finally {
      this.#consuming = false;
      // the batch in hand finishes and its offsets are committed before the group is left
      await consumer.disconnect().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
      redis.disconnect();
      store.disconnect();
      server.close();
      this.#logger.info('stopped');
      this.#logger.flush();
    }
  }

  stop(): Promise<void> {
    this.#abort.abort();
    return Promise.resolve();
  }

  /** Waits until the CDC service has made the topics (it does at its start), then makes the dead-letter topic. */
  async #prepareTopics(kafka: Kafka, topics: string[]) {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await waitForTopics(admin, topics, {
        signal: this.#abort.signal,
        onMissing: (missing) => this.#logger.warn({ missing }, 'waiting for the CDC service to create its topics'),
      });
      const dlq = deadLetterTopic(this.#config.PROJECTOR_TOPIC_PREFIX);
      if (!(await admin.listTopics()).includes(dlq)) {
        // another instance may create it at the same moment: what counts is that it exists afterwards
        await retryWhileSettling(
          () => admin.createTopics({ waitForLeaders: true, topics: [{ topic: dlq, numPartitions: 1 }] }),
          this.#abort.signal,
        ).catch(async (err: unknown) => {
          if (!(await admin.listTopics()).includes(dlq)) throw err;
        });
      }
    } finally {
      await admin.disconnect();
    }
  }

  async #applyBatch(
    payload: EachBatchPayload,
    redis: ScriptedRedis | ScriptedCluster,
    store: Redis,
    producer: Producer,
  ): Promise<void> {
    const { batch } = payload;
    const table = batch.topic.slice(batch.topic.lastIndexOf('.') + 1);
    this.#metrics.lag.set({ topic: batch.topic, partition: String(batch.partition) }, Number(batch.offsetLag()));
    const size = this.#config.PROJECTOR_PIPELINE_EVENTS;
    for (let from = 0; from < batch.messages.length; from += size) {
      if (!payload.isRunning() || payload.isStale()) return;
      const chunk = batch.messages.slice(from, from + size);
      const spaces = await this.#writtenKeyspaces(store);
      const writes = recordingKeys(writeBatch(redis));
      let queued = 0;
      const planned = chunk.map((message) => {
        const p = this.#plan(table, message, writes, spaces);
        queued += p.writes;
        return p;
      });
      const results = queued > 0 ? await writes.exec() : [];
      if (this.#config.PROJECTOR_INVALIDATIONS) {
        // after Redis acknowledged the writes; best effort (a retried chunk changes nothing, so it would not resend).
        // Not awaited: it leaves on the same connection before the next chunk's writes, and its answer changes nothing
        const changed = changedKeys(writes.queuedKeys, results);
        publishInvalidations(redis, this.#config.PROJECTOR_KEY_PREFIX, changed).catch((err: unknown) =>
          this.#logger.warn({ err, keys: changed.length }, 'invalidations not published; readers’ L1 TTL bounds it'),
        );
      }
      const now = Date.now();
      let r = 0;
      const dead: Planned[] = [];
      // counted per chunk, not per event: a labelled counter's lookup is not free at tens of thousands of events/s
      let applied = 0;
      let unchanged = 0;
      let skipped = 0;
      for (const p of planned) {
        let refused: Error | null = null;
        let changed = false;
        for (const end = r + p.writes; r < end; r++) {
          const [err, value] = results[r] ?? [null, 0];
          if (err) refused ??= err;
          else if (value === 1 || value === 'OK') changed = true;
        }
        if (refused) p.error = `redis refused a write: ${refused.message}`;
        if (p.error !== undefined) {
          dead.push(p);
          p.span?.setStatus({ code: SpanStatusCode.ERROR, message: p.error });
        } else if (p.message.value !== null) {
          if (p.writes === 0) skipped += 1;
          else if (changed) applied += 1;
          else unchanged += 1;
          if (p.committedAt !== undefined) this.#metrics.commitToRedis.observe(Math.max(0, now - p.committedAt) / 1000);
        } else {
          skipped += 1; // a tombstone: the delete before it did the work
        }
        p.span?.end();
      }
      if (applied > 0) this.#metrics.events.inc({ table, outcome: 'applied' }, applied);
      if (unchanged > 0) this.#metrics.events.inc({ table, outcome: 'unchanged' }, unchanged);
      if (skipped > 0) this.#metrics.events.inc({ table, outcome: 'skipped' }, skipped);
      if (dead.length > 0) await this.#deadLetter(producer, batch.topic, batch.partition, table, dead);
      const last = chunk[chunk.length - 1];
      // durable: Redis acknowledged every write of the events up to here, and the ones it could not take are in
      // the dead-letter topic; only now may the group's offset move past them
      if (last) payload.resolveOffset(last.offset);
      await payload.commitOffsetsIfNecessary();
      await payload.heartbeat();
    }
  }

  /**
   * The keyspaces of the generations to write, from the pointer read now, before each chunk, never from a value
   * kept: a rebuild takes its high watermarks right after setting `building`, and counts on every event above them
   * reaching the new generation from here (`@bgc/cache/generation`).
   */
  async #writtenKeyspaces(store: Redis): Promise<Keyspace[]> {
    const generations = writtenGenerations(await readGenerations(store, this.#config.PROJECTOR_KEY_PREFIX));
    const id = generations.join(' ');
    if (this.#written.keys.length === 0 || id !== this.#written.generations) {
      this.#logger.info({ generations }, generations.length > 1 ? 'writing a rebuild’s generation too' : 'writing');
      const keys = generations.map((g) => keyspace(generationPrefix(this.#config.PROJECTOR_KEY_PREFIX, g)));
      this.#written = { generations: id, keys };
    }
    return this.#written.keys;
  }

  /** Parses an event and queues its writes on the batch; an event that cannot be projected carries its error. */
  #plan(table: string, message: KafkaMessage, batch: WriteBatch, spaces: Keyspace[]): Planned {
    const planned: Planned = { message, writes: 0, committedAt: undefined, error: undefined, span: undefined };
    if (message.value === null) return planned;
    const traceparent = message.headers?.traceparent?.toString();
    if (traceparent !== undefined && sampled(traceparent)) {
      planned.span = tracer.startSpan(
        `cache-projector apply ${table}`,
        { kind: SpanKind.CONSUMER, attributes: { 'messaging.system': 'kafka', 'bgc.table': table } },
        propagation.extract(ROOT_CONTEXT, { traceparent }),
      );
    }
    try {
      const event = JSON.parse(message.value.toString()) as ChangeEvent;
      // every write is made before any is queued: an event that cannot be projected queues nothing
      const writes = projectAll(table, event, spaces);
      for (const w of writes) queueWrite(batch, w, this.#writeSettings);
      planned.writes = writes.length;
      const committedAt = event.source?.ts_ms;
      if (typeof committedAt === 'number') planned.committedAt = committedAt;
    } catch (err) {
      planned.error = err instanceof Error ? err.message : String(err);
    }
    return planned;
  }

  async #deadLetter(producer: Producer, topic: string, partition: number, table: string, dead: Planned[]) {
    await producer.send({
      topic: deadLetterTopic(this.#config.PROJECTOR_TOPIC_PREFIX),
      acks: -1,
      messages: dead.map(({ message, error }) => ({
        key: message.key,
        value: message.value,
        headers: {
          ...message.headers,
          'bgc.error': error ?? 'unknown',
          'bgc.source.topic': topic,
          'bgc.source.partition': String(partition),
          'bgc.source.offset': message.offset,
        },
      })),
    });
    for (const { message, error } of dead) {
      this.#metrics.deadLetters.inc({ table });
      this.#metrics.events.inc({ table, outcome: 'dead' });
      this.#logger.error({ topic, partition, offset: message.offset, error }, 'event dead-lettered');
    }
  }
}
