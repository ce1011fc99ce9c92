/**
 * The CDC service: the primary's WAL (pgoutput, from a named slot) into Kafka as Debezium change events, at least
 * once and in order. The stream is a pull loop over the replication messages; each record is handed to the ordered
 * publisher, and only transactions Kafka has acknowledged (with everything before them) are acknowledged to
 * Postgres. A broken stream is reopened from the slot's confirmed position, never from what this process had read.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { Murmur2Partitioner } from './partitioner.ts';
import pg from 'pg';
import { LogicalReplicationService } from 'pg-logical-replication';
import type { Pgoutput } from 'pg-logical-replication';
import { bigIntToLsn, lsnToBigInt } from '@bgc/events/envelope';
import type { Service } from '@bgc/runtime/service';
import { createLogger } from '@bgc/telemetry/logger';
import { createRegistry } from '@bgc/telemetry/metrics';
import { serveMetrics } from '@bgc/telemetry/metrics-server';
import { Channel } from './channel.ts';
import type { CommittedTransaction } from './change-events.ts';
import { ChangeEventBuilder } from './change-events.ts';
import type { CdcConfig } from './config.ts';
import type { CdcMetrics } from './metrics.ts';
import { createCdcMetrics } from './metrics.ts';
import { OrderedPublisher } from './ordered-publisher.ts';
import { RowsPgoutputPlugin } from './pgoutput-rows.ts';
import { installTypeParsers } from '@bgc/events/pg-values';
import type { SnapshotProgress } from './snapshot.ts';
import { parseSignal } from './snapshot-signal.ts';
import { SIGNAL_PREFIX, Snapshotter, SNAPSHOT_MARKER } from './snapshot.ts';
import { readSnapshotProgress, snapshotTopic } from './snapshot-progress.ts';
import { CdcError, createSlot, dropSlot, ensureTopics, findSlot, publishedTables } from './source-setup.ts';
import { TransactionSpans } from './transaction-spans.ts';

const CONNECTOR_VERSION = '1.0.0';
const HEARTBEAT_PREFIX = 'bgc.cdc.heartbeat';

interface EventCount {
  counter: { inc(by: number): void };
  /** events since the last flush */
  pending: number;
}

/**
 * What to send Postgres for "everything up to this commit-end LSN is durable". The library reports `lsn + 1` as
 * written/flushed, and decoding skips a transaction whose commit record starts before the confirmed position; the
 * next transaction's commit record may start exactly at this commit's end, so we report the byte before it.
 */
const lastByteOf = (commitEndLsn: string) => bigIntToLsn(lsnToBigInt(commitEndLsn) - 1n);

export class CdcService implements Service {
  readonly name = 'cdc';
  readonly #config: CdcConfig;
  readonly #abort = new AbortController();
  readonly #logger;
  readonly #registry = createRegistry('cdc');
  readonly #slotPool: pg.Pool;
  readonly #metrics: CdcMetrics;
  readonly #spans = new TransactionSpans();
  #publisher: OrderedPublisher<CommittedTransaction> | undefined;
  #streaming = false;
  /** commit-end LSN up to which Kafka holds everything; what the slot is acknowledged to */
  durableLsn = '0/0';

  constructor(config: CdcConfig) {
    this.#config = config;
    this.#logger = createLogger({ service: this.name, level: config.LOG_LEVEL });
    this.#slotPool = new pg.Pool({ connectionString: config.DB_CDC_URL, max: 1, application_name: 'cdc-metrics' });
    this.#metrics = createCdcMetrics(this.#registry, this.#slotPool, config.CDC_SLOT, () => {
      return this.#publisher?.inFlightBytes ?? 0;
    });
    installTypeParsers();
  }

  async run(): Promise<void> {
    const server = await serveMetrics(this.#registry, {
      port: this.#config.CDC_METRICS_PORT,
      host: this.#config.CDC_HOST,
      // healthy while the stream runs: not before the slot and topics exist, not while it reconnects
      health: () => ({ ok: this.#streaming, durableLsn: this.durableLsn }),
    });
    this.#logger.info({ url: server.url }, 'listening');
    const kafka = new Kafka({
      clientId: 'bgc-cdc',
      brokers: this.#config.KAFKA_BROKERS,
      logLevel: logLevel.WARN,
      retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5000 },
    });
    let backoff = 250;
    try {
      while (!this.#abort.signal.aborted) {
        try {
          await this.#streamOnce(kafka);
          backoff = 250;
        } catch (err) {
          this.#spans.abandonAll('stream restarted');
          const code = err instanceof CdcError ? err.code : 'STREAM_FAILED';
          if (err instanceof CdcError && !err.retryable) {
            this.#logger.fatal({ err, code }, err.message);
            throw err;
          }
          if (this.#abort.signal.aborted) break;
          this.#metrics.restarts.inc({ code });
          this.#logger.warn({ err, code, retryInMs: backoff }, 'stream broke; reopening from the slot');
          await sleep(backoff, undefined, { signal: this.#abort.signal }).catch(() => undefined);
          backoff = Math.min(backoff * 2, 30_000);
        }
      }
    } finally {
      await this.#slotPool.end();
      server.close();
      this.#logger.info({ durableLsn: this.durableLsn }, 'stopped');
      this.#logger.flush();
    }
  }

  stop(): Promise<void> {
    this.#abort.abort();
    return Promise.resolve();
  }

  // one labelled child per (table, op), looked up once: a label lookup per event showed in the profile (and so
  // did the string a single-level key was made of). Events are counted in a plain field and added to the counter
  // once per batch of WAL messages: prom-client's inc() per event showed too
  readonly #eventCounters = new Map<string, Map<string, EventCount>>();
  readonly #counted: EventCount[] = [];
  #countEvent(table: string, op: string) {
    let ops = this.#eventCounters.get(table);
    if (!ops) {
      ops = new Map();
      this.#eventCounters.set(table, ops);
    }
    let count = ops.get(op);
    if (!count) {
      count = { counter: this.#metrics.events.labels({ table, op }), pending: 0 };
      ops.set(op, count);
    }
    if (count.pending++ === 0) this.#counted.push(count);
  }

  #flushEventCounts() {
    for (const count of this.#counted) {
      count.counter.inc(count.pending);
      count.pending = 0;
    }
    this.#counted.length = 0;
  }

  async #streamOnce(kafka: Kafka): Promise<void> {
    const cfg = this.#config;
    // idempotent: a retried batch is written once; one request in flight: a retry cannot overtake. A fresh
    // producer per attempt: when Kafka stays away longer than its retries (~1 min), the attempt fails, and the next
    // one starts clean from the slot rather than from a client stuck in a half-known broker state
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Murmur2Partitioner,
      retry: { retries: 15, initialRetryTime: 200, maxRetryTime: 5000 },
    });
    await producer.connect();
    // UTC, as the replication session: snapshot reads must render keys exactly as the stream does
    const db = new pg.Client({ connectionString: cfg.DB_CDC_URL, application_name: 'cdc', options: '-c TimeZone=UTC' });
    await db.connect();
    const timers: NodeJS.Timeout[] = [];
    let replication: LogicalReplicationService | undefined;
    let snapshotAbort: AbortController | undefined;
    try {
      const tables = await publishedTables(db, cfg.CDC_PUBLICATION);
      const admin = kafka.admin();
      await admin.connect();
      const created = await ensureTopics(admin, {
        prefix: cfg.CDC_TOPIC_PREFIX,
        partitions: cfg.CDC_TOPIC_PARTITIONS,
        historyRetentionMs: cfg.CDC_HISTORY_RETENTION_HOURS * 3600 * 1000,
        tables,
      }).finally(() => admin.disconnect());
      const progressTopic = snapshotTopic(cfg.CDC_TOPIC_PREFIX);
      let progress = await readSnapshotProgress(kafka, progressTopic, cfg.CDC_SLOT);
      const database = (await db.query<{ db: string }>('SELECT current_database() AS db')).rows[0]?.db ?? '';
      const found = await findSlot(db, cfg.CDC_SLOT, database);
      let resumeAt: string;
      let snapshotReason = 'none';
      if (found.kind === 'ok') {
        resumeAt = found.confirmedFlushLsn;
      } else {
        // progress on the topic means this slot streamed before: missing or invalidated now, it lost changes
        const lost = found.kind === 'lost' || progress !== undefined;
        if (lost) {
          this.#metrics.slotsLost.inc();
          this.#logger.error(
            { slot: cfg.CDC_SLOT, state: found.kind, policy: cfg.CDC_ON_LOST_SLOT },
            'the slot is gone: the changes since its last position are lost from the stream',
          );
          if (cfg.CDC_ON_LOST_SLOT === 'fail') {
            throw new CdcError(
              'SLOT_LOST',
              `slot ${cfg.CDC_SLOT} is ${found.kind}: changes were lost. Set BGC_CDC_ON_LOST_SLOT=resnapshot to ` +
                'recreate it and republish every row, or rebuild the consumers another way',
              { retryable: false },
            );
          }
          if (found.kind === 'lost') await dropSlot(db, cfg.CDC_SLOT);
        }
        if ((cfg.CDC_SNAPSHOT === 'initial' || lost) && tables[0]) {
          // recorded before the slot exists: a crash between the two still ends in a snapshot
          progress = { state: 'running', table: `${tables[0].schema}.${tables[0].table}`, after: null };
          snapshotReason = lost ? 'slot lost' : 'new slot';
          await producer.send({
            topic: progressTopic,
            acks: -1,
            messages: [{ key: cfg.CDC_SLOT, value: JSON.stringify(progress) }],
          });
        }
        resumeAt = await createSlot(db, cfg.CDC_SLOT);
      }
      this.durableLsn = resumeAt;
      let snapshotter =
        progress?.state === 'running' ? new Snapshotter(db, tables, cfg.CDC_SNAPSHOT_CHUNK, progress) : undefined;
      this.#logger.info(
        {
          slot: cfg.CDC_SLOT,
          slotCreated: found.kind !== 'ok',
          from: resumeAt,
          topicsCreated: created,
          snapshot: snapshotter ? progress : 'none',
          snapshotReason,
        },
        'streaming',
      );
      this.#streaming = true;

      const builder = new ChangeEventBuilder({
        topicPrefix: cfg.CDC_TOPIC_PREFIX,
        database,
        connectorVersion: CONNECTOR_VERSION,
        primaryKeys: new Map(tables.map((t) => [`${t.schema}.${t.table}`, t.primaryKey])),
      });
      const service = new LogicalReplicationService(
        { connectionString: cfg.DB_CDC_URL, options: '-c TimeZone=UTC -c DateStyle=ISO' },
        // no auto-ack and no library timer: it would acknowledge what was received, not what Kafka holds
        { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
      );
      replication = service;
      const acknowledge = () => {
        if (this.durableLsn !== '0/0') void service.acknowledge(lastByteOf(this.durableLsn));
      };
      const channel = new Channel<{ lsn: string; msg: Pgoutput.Message }>(512);
      let lastHeard = Date.now();
      service.on('data', (lsn: string, msg: Pgoutput.Message) => channel.push({ lsn, msg }));
      service.on('heartbeat', (_lsn, _time, shouldRespond) => {
        lastHeard = Date.now();
        if (shouldRespond) acknowledge();
      });
      service.on('error', (err) => channel.fail(err));
      const onAbort = () => channel.close();
      this.#abort.signal.addEventListener('abort', onAbort, { once: true });

      const publisher = new OrderedPublisher<CommittedTransaction>(
        producer,
        { batchBytes: cfg.CDC_BATCH_BYTES, lingerMs: cfg.CDC_LINGER_MS, sendTimeoutMs: 60_000 },
        (marks) => {
          const now = Date.now();
          for (const { txn, commitEndLsn } of marks) {
            this.durableLsn = commitEndLsn;
            this.#spans.durable(txn);
            if (txn.events > 0) {
              this.#metrics.transactions.inc();
              this.#metrics.commitToKafka.observe(Math.max(0, now - txn.commitTimeMs) / 1000);
            }
          }
          this.#metrics.durableLsn.set(Number(lsnToBigInt(this.durableLsn)));
          acknowledge();
        },
        (err) => channel.fail(err),
      );
      this.#publisher = publisher;

      // a transactional message on a timer: an idle database still produces commits, so the slot advances
      timers.push(
        setInterval(() => {
          db.query(`SELECT pg_logical_emit_message(true, $1, now()::text)`, [HEARTBEAT_PREFIX]).catch((err: unknown) =>
            this.#logger.warn({ err }, 'heartbeat failed'),
          );
        }, cfg.CDC_HEARTBEAT_MS),
      );
      // status updates (the server drops a silent receiver after wal_sender_timeout) and the watchdog
      timers.push(
        setInterval(() => {
          acknowledge();
          if (Date.now() - lastHeard > cfg.CDC_WATCHDOG_MS) {
            channel.fail(new CdcError('STREAM_SILENT', `no WAL for ${cfg.CDC_WATCHDOG_MS} ms`, { retryable: true }));
          }
        }, 2000),
      );
      const plugin = new RowsPgoutputPlugin({
        protoVersion: 1,
        publicationNames: [cfg.CDC_PUBLICATION],
        messages: true,
      });
      // from the slot's confirmed position (a position of our own; never the library's last received one)
      service.subscribe(plugin, cfg.CDC_SLOT, resumeAt).then(
        () => channel.close(),
        (err: unknown) => channel.fail(err),
      );

      snapshotAbort = new AbortController();
      const abortSnapshot = snapshotAbort.signal;
      const runSnapshot = (s: Snapshotter) =>
        s
          .run(abortSnapshot)
          .then(() => this.#logger.info('snapshot chunks all read'))
          .catch((err: unknown) => channel.fail(err));
      if (snapshotter) void runSnapshot(snapshotter);

      const waitedOnWal = this.#metrics.waits.labels({ on: 'wal' });
      const waitedOnKafka = this.#metrics.waits.labels({ on: 'kafka' });
      waitedOnWal.inc(0); // both series from the start, for rate() and the benchmark
      waitedOnKafka.inc(0);
      let idleSince = performance.now();
      for await (const batch of channel.batches()) {
        waitedOnWal.inc((performance.now() - idleSince) / 1000);
        lastHeard = Date.now();
        for (const { lsn, msg } of batch) {
          if (channel.failed) break; // fail() ends the stream at once, not after the batch
          if (snapshotter && msg.tag === 'message' && msg.prefix === SNAPSHOT_MARKER) {
            const ready = snapshotter.onMarker(Buffer.from(msg.content).toString('utf8'));
            if (ready) {
              const { schema, table, primaryKey } = ready.table;
              for (const row of ready.rows) {
                const r = builder.snapshotRead(schema, table, primaryKey, row);
                await publisher.push(r.topic, { key: r.key, value: r.value, headers: this.#spans.headersFor(r) });
                this.#countEvent(table, 'read');
              }
              // after the rows, in the same ordered stream: durable only once they are
              await publisher.push(progressTopic, { key: cfg.CDC_SLOT, value: JSON.stringify(ready.progress) });
              snapshotter.chunkPublished();
              if (ready.progress.state === 'done') {
                this.#logger.info('snapshot published');
                snapshotter = undefined;
              }
            }
          }
          if (msg.tag === 'message' && msg.prefix === SIGNAL_PREFIX && msg.transactional) {
            const asked = parseSignal(Buffer.from(msg.content).toString('utf8'), tables);
            if (!asked.ok) {
              this.#logger.warn({ signal: asked.reason }, 'snapshot signal ignored');
            } else if (snapshotter) {
              this.#logger.warn(
                { tables: asked.tables },
                'snapshot signal ignored: a snapshot is running; send it again after',
              );
            } else {
              const first = asked.tables[0];
              const started: SnapshotProgress = { state: 'running', table: first, after: null, tables: asked.tables };
              // with the signal's transaction: once it is acknowledged, the snapshot is on record and resumes
              await publisher.push(progressTopic, { key: cfg.CDC_SLOT, value: JSON.stringify(started) });
              snapshotter = new Snapshotter(db, tables, cfg.CDC_SNAPSHOT_CHUNK, started);
              this.#logger.info({ tables: asked.tables }, 'snapshot on demand');
              void runSnapshot(snapshotter);
            }
          }
          if (msg.tag === 'truncate') {
            this.#metrics.truncates.inc();
            this.#logger.error(
              { tables: msg.relations.map((r) => r.name) },
              'TRUNCATE is not published: rebuild the consumers of these tables from a snapshot',
            );
            continue;
          }
          const { records, committed } = builder.handle(lsn, msg);
          for (const r of records) {
            // a streamed change beats the read of the same row in an open snapshot window
            snapshotter?.noteChange(r.table, r.key);
            const full = publisher.push(r.topic, { key: r.key, value: r.value, headers: this.#spans.headersFor(r) });
            if (full) {
              const since = performance.now();
              await full;
              waitedOnKafka.inc((performance.now() - since) / 1000);
              lastHeard = Date.now(); // waiting on Kafka is not a silent stream
            }
            if (r.value !== null && msg.tag !== 'commit') this.#countEvent(r.table, msg.tag);
          }
          if (committed) publisher.mark(committed);
        }
        this.#flushEventCounts();
        idleSince = performance.now();
      }
      // stopped, or the server ended the stream: what was read goes to Kafka and is acknowledged before we let go
      await publisher.drain();
      acknowledge();
      if (!this.#abort.signal.aborted) {
        throw new CdcError('STREAM_ENDED', 'the server ended the replication stream', { retryable: true });
      }
    } finally {
      this.#flushEventCounts();
      snapshotAbort?.abort();
      this.#streaming = false;
      timers.forEach((t) => clearInterval(t));
      await replication?.destroy().catch(() => undefined);
      await db.end().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
    }
  }
}
