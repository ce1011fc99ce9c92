/**
 * Reads the projected topics with a consumer group of its own, from the group's committed offsets (the beginning
 * for a new group) up to fixed targets (high watermarks taken by the caller), and applies every event's projection
 * into one keyspace, a few script calls per chunk (`writeBatch`); or only counts what it would write (a dry run). An
 * offset is committed only after Redis acknowledged the writes of every event up to it, so an interrupted replay
 * continues where it stopped, and the guarded writes make whatever it repeats a no-op.
 */
import type { Admin, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Keyspace } from '@bgc/cache/keys';
import type { ScriptedCluster, ScriptedRedis } from '@bgc/cache/scripts';
import { writeBatch } from '@bgc/cache/scripts';
import { projectEvent } from '@bgc/cache/projections';
import type { WriteSettings } from '@bgc/cache/queue-write';
import { queueWrite } from '@bgc/cache/queue-write';
import type { ChangeEvent } from '@bgc/events/envelope';

export interface PartitionTarget {
  topic: string;
  partition: number;
  /** the first offset in the partition */
  low: bigint;
  /** read up to here, exclusive */
  high: bigint;
  /** where reading starts: the group's committed offset, or `low` */
  from: bigint;
}

/** Each partition's range: from the group's committed offset (or the beginning) up to its high watermark now. */
export async function replayTargets(admin: Admin, topics: string[], group: string): Promise<PartitionTarget[]> {
  const committed = new Map<string, bigint>();
  for (const { topic, partitions } of await admin.fetchOffsets({ groupId: group, topics })) {
    for (const p of partitions) if (p.offset !== '-1') committed.set(`${topic}:${p.partition}`, BigInt(p.offset));
  }
  const targets: PartitionTarget[] = [];
  for (const topic of topics) {
    for (const o of await admin.fetchTopicOffsets(topic)) {
      const low = BigInt(o.low);
      const high = BigInt(o.high);
      const at = committed.get(`${topic}:${o.partition}`) ?? low;
      targets.push({ topic, partition: o.partition, low, high, from: at > low ? at : low });
    }
  }
  return targets;
}

export interface ReplayCounts {
  /** records read below the targets (Kafka tombstones included) */
  events: number;
  /** guarded writes sent (or, in a dry run, that would be) */
  writes: number;
  /** events that cannot be projected (the live projector dead-letters them) */
  unprojectable: number;
  /** writes Redis refused */
  refused: number;
  /** the first error of each kind, to show */
  firstErrors: string[];
}

export interface ReplayOptions {
  kafka: Kafka;
  group: string;
  targets: PartitionTarget[];
  /** where the writes go; undefined: a dry run, which writes nothing and commits no offset */
  cache?: ScriptedRedis | ScriptedCluster;
  keys: Keyspace;
  settings: WriteSettings;
  sessionTimeoutMs: number;
  chunkEvents: number;
  /** events per second at most; 0: as fast as it goes */
  rate: number;
  signal?: AbortSignal;
  /** after each chunk: offsets covered of the total, and the counts so far */
  onProgress?: (covered: bigint, counts: ReplayCounts) => void;
  /** a chunk failed (Redis unavailable, …): kafkajs reads it again after a back-off */
  onRetry?: (err: Error, where: string) => void;
}

const tableOf = (topic: string) => topic.slice(topic.lastIndexOf('.') + 1);
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/** Replays up to the targets; resolves with the counts, `interrupted` when the signal stopped it first. */
export async function replayTopics(opts: ReplayOptions): Promise<ReplayCounts & { interrupted: boolean }> {
  const counts: ReplayCounts = { events: 0, writes: 0, unprojectable: 0, refused: 0, firstErrors: [] };
  const pending = new Map(opts.targets.filter((t) => t.from < t.high).map((t) => [`${t.topic}:${t.partition}`, t]));
  const position = new Map(opts.targets.map((t) => [`${t.topic}:${t.partition}`, t.from]));
  let covered = opts.targets.reduce((sum, t) => sum + (t.from - t.low), 0n);
  if (pending.size === 0) return { ...counts, interrupted: false };

  const started = Date.now();
  const advance = (id: string, to: bigint) => {
    const at = position.get(id) ?? to;
    if (to > at) {
      covered += to - at;
      position.set(id, to);
    }
  };
  const noteError = (kind: string, message: string) => {
    if (!counts.firstErrors.some((e) => e.startsWith(kind))) counts.firstErrors.push(`${kind}: ${message}`);
  };

  const apply = async (table: string, messages: KafkaMessage[]) => {
    const batch = opts.cache ? writeBatch(opts.cache) : undefined;
    let queued = 0;
    for (const message of messages) {
      if (message.value === null) continue; // a Kafka tombstone: the delete event before it did the work
      try {
        const writes = projectEvent(table, JSON.parse(message.value.toString()) as ChangeEvent, opts.keys);
        if (batch) for (const w of writes) queueWrite(batch, w, opts.settings);
        queued += writes.length;
      } catch (err) {
        counts.unprojectable += 1;
        noteError('unprojectable', `${table} offset ${message.offset}: ${(err as Error).message}`);
      }
    }
    if (batch && queued > 0) {
      for (const [err] of await batch.exec()) {
        if (!err) continue;
        counts.refused += 1;
        noteError('refused', `${table}: ${err.message}`);
      }
    }
    counts.events += messages.length;
    counts.writes += queued;
  };

  const consumer = opts.kafka.consumer({
    groupId: opts.group,
    maxBytesPerPartition: 8 * 1024 * 1024,
    sessionTimeout: opts.sessionTimeoutMs,
    heartbeatInterval: Math.max(500, Math.floor(opts.sessionTimeoutMs / 10)),
    maxWaitTimeInMs: 250,
  });
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const done = (id: string, target: PartitionTarget) => {
    advance(id, target.high);
    pending.delete(id);
    opts.onProgress?.(covered, counts);
    if (pending.size === 0) finish();
  };

  const eachBatch = async (payload: EachBatchPayload) => {
    const { batch } = payload;
    const id = `${batch.topic}:${batch.partition}`;
    const target = pending.get(id);
    if (!target) {
      payload.pause(); // done: what lies beyond the target is the live projector's
      return;
    }
    const table = tableOf(batch.topic);
    const wanted = batch.messages.filter((m) => BigInt(m.offset) < target.high);
    for (let from = 0; from < wanted.length; from += opts.chunkEvents) {
      if (!payload.isRunning() || payload.isStale() || opts.signal?.aborted) return;
      const chunk = wanted.slice(from, from + opts.chunkEvents);
      if (opts.rate > 0) {
        const due = started + ((counts.events + chunk.length) / opts.rate) * 1000;
        if (due > Date.now()) await sleep(due - Date.now(), opts.signal);
        if (opts.signal?.aborted) return;
      }
      await apply(table, chunk).catch((err: unknown) => {
        opts.onRetry?.(err as Error, `${batch.topic}[${batch.partition}]@${chunk[0]?.offset}`);
        throw err;
      });
      const last = chunk[chunk.length - 1];
      if (last) {
        // only now, Redis having acknowledged every write up to it, may the group's offset move past it (a dry
        // run resolves too, or kafkajs would fetch the same records again, but never commits)
        payload.resolveOffset(last.offset);
        advance(id, BigInt(last.offset) + 1n);
      }
      if (opts.cache) await payload.commitOffsetsIfNecessary();
      await payload.heartbeat();
      opts.onProgress?.(covered, counts);
    }
    if (wanted.length < batch.messages.length || BigInt(batch.lastOffset()) + 1n >= target.high) {
      payload.pause();
      done(id, target);
    }
  };

  await consumer.connect();
  try {
    // a batch of only filtered records (compacted away, control records) never reaches eachBatch: kafkajs moves past
    // it itself, and says so here
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const id = `${payload.topic}:${payload.partition}`;
      const target = pending.get(id);
      if (target && payload.batchSize === 0 && BigInt(payload.lastOffset) + 1n >= target.high) done(id, target);
    });
    const crashed = new Promise<never>((_, reject) =>
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (!payload.restart) reject(payload.error);
      }),
    );
    const stopped = new Promise<void>((resolve) => {
      if (opts.signal?.aborted) resolve();
      opts.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    await consumer.subscribe({ topics: [...new Set(opts.targets.map((t) => t.topic))], fromBeginning: true });
    await consumer.run({
      autoCommit: opts.cache !== undefined,
      autoCommitThreshold: 1,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, opts.targets.length),
      eachBatch,
    });
    await Promise.race([finished, stopped, crashed]);
    return { ...counts, interrupted: pending.size > 0 };
  } finally {
    // commits what was resolved (the chunk in hand finishes first)
    await consumer.disconnect();
  }
}
