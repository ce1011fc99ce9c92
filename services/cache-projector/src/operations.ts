/**
 * Operators' tools on the projector's Kafka side: move a consumer group back to a point in time (it then replays
 * from there; the guarded writes make that safe), and list or requeue the dead letters. Each refuses what would
 * race a running projector, and says what to do instead.
 */
import type { Admin, IHeaders, Kafka } from 'kafkajs';
import { deadLetterTopic } from './service.ts';

export class OperationRefused extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

async function withAdmin<T>(kafka: Kafka, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Sets `group`'s offsets on `topic` to the first event at or after `fromMs` (the partition's end where there is
 * none). Refuses while the group has members: a running consumer would overwrite the offsets with its own.
 */
export function replayFrom(kafka: Kafka, opts: { group: string; topic: string; fromMs: number }) {
  return withAdmin(kafka, async (admin) => {
    const [group] = (await admin.describeGroups([opts.group])).groups;
    if (group && group.members.length > 0) {
      throw new OperationRefused(
        'GROUP_ACTIVE',
        `group ${opts.group} has ${group.members.length} live member(s): stop the cache projector first, then replay`,
      );
    }
    if (!(await admin.listTopics()).includes(opts.topic)) {
      throw new OperationRefused('NO_SUCH_TOPIC', `topic ${opts.topic} does not exist`);
    }
    const byTime = await admin.fetchTopicOffsetsByTimestamp(opts.topic, opts.fromMs);
    const ends = await admin.fetchTopicOffsets(opts.topic);
    const partitions = byTime.map(({ partition, offset }) => ({
      partition,
      // -1: nothing at or after that time in this partition, so nothing to replay there
      offset: offset === '-1' ? (ends.find((e) => e.partition === partition)?.high ?? '0') : offset,
    }));
    await admin.setOffsets({ groupId: opts.group, topic: opts.topic, partitions });
    return partitions;
  });
}

export interface DeadLetter {
  offset: string;
  key: string | null;
  value: string | null;
  error: string;
  source: { topic: string; partition: number; offset: string };
  headers: Record<string, string>;
}

const text = (h: IHeaders[string]) => (Array.isArray(h) ? String(h[0] ?? '') : h === undefined ? '' : String(h));

/**
 * Reads the dead-letter topic from `since` (per partition; the beginning where absent) up to its end as it is now,
 * with a throwaway consumer group, and stops.
 */
async function readDeadLetters(kafka: Kafka, prefix: string, since: Map<number, bigint>, max: number) {
  const topic = deadLetterTopic(prefix);
  const ends = await withAdmin(kafka, async (admin) =>
    (await admin.listTopics()).includes(topic) ? admin.fetchTopicOffsets(topic) : [],
  );
  const pending = new Map(
    ends
      .map((e) => [e.partition, BigInt(e.high)] as const)
      .filter(([partition, high]) => high > (since.get(partition) ?? 0n)),
  );
  const out: (DeadLetter & { partition: number })[] = [];
  if (pending.size === 0) return out;
  const consumer = kafka.consumer({ groupId: `dlq-reader-${process.pid}-${Date.now()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachMessage: ({ partition, message }) => {
            const end = pending.get(partition);
            const offset = BigInt(message.offset);
            if (end === undefined || out.length >= max) return Promise.resolve();
            if (offset >= (since.get(partition) ?? 0n) && offset < end) {
              const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, text(v)]));
              out.push({
                partition,
                offset: message.offset,
                key: message.key?.toString() ?? null,
                value: message.value?.toString() ?? null,
                error: headers['bgc.error'] ?? '',
                source: {
                  topic: headers['bgc.source.topic'] ?? '',
                  partition: Number(headers['bgc.source.partition'] ?? -1),
                  offset: headers['bgc.source.offset'] ?? '',
                },
                headers,
              });
            }
            if (offset + 1n >= end) pending.delete(partition);
            if (pending.size === 0 || out.length >= max) resolve();
            return Promise.resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** Every dead letter there is (at most `max`), oldest first per partition. */
export function listDeadLetters(kafka: Kafka, prefix: string, max = 1000): Promise<DeadLetter[]> {
  return readDeadLetters(kafka, prefix, new Map(), max);
}

/**
 * Sends the dead letters not requeued before back to the topics they came from (same key, value and trace
 * headers), so the projector, fixed meanwhile, applies them; a group remembers what was requeued. Every consumer
 * of those topics sees them again, which is safe: all of them drop what they have already applied.
 */
export async function requeueDeadLetters(kafka: Kafka, prefix: string, max = 10_000): Promise<DeadLetter[]> {
  const topic = deadLetterTopic(prefix);
  const groupId = `${prefix}.dlq.cache-projector.requeued`;
  const committed = await withAdmin(kafka, (admin) => admin.fetchOffsets({ groupId, topics: [topic] }));
  const since = new Map(
    (committed[0]?.partitions ?? []).filter((p) => p.offset !== '-1').map((p) => [p.partition, BigInt(p.offset)]),
  );
  const letters = await readDeadLetters(kafka, prefix, since, max);
  if (letters.length === 0) return letters;
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (const l of letters) {
      const headers = Object.fromEntries(Object.entries(l.headers).filter(([k]) => !k.startsWith('bgc.')));
      await producer.send({ topic: l.source.topic, acks: -1, messages: [{ key: l.key, value: l.value, headers }] });
    }
  } finally {
    await producer.disconnect();
  }
  // only once they are back on their topics is the requeue on record (a failure above requeues them again)
  const next = new Map<number, bigint>();
  for (const l of letters) next.set(l.partition, BigInt(l.offset) + 1n);
  await withAdmin(kafka, (admin) =>
    admin.setOffsets({
      groupId,
      topic,
      partitions: [...next].map(([partition, offset]) => ({ partition, offset: String(offset) })),
    }),
  );
  return letters;
}
