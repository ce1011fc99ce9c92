/**
 * Where the snapshot stands, kept on a compacted topic (`<prefix>.cdc-snapshot`, key = slot name) so it lives as
 * long as the change topics it describes and needs no write access to the database. Read once at start-up.
 */
import type { Kafka } from 'kafkajs';
import type { SnapshotProgress } from './snapshot.ts';

export const snapshotTopic = (prefix: string) => `${prefix}.cdc-snapshot`;

export async function readSnapshotProgress(
  kafka: Kafka,
  topic: string,
  slot: string,
): Promise<SnapshotProgress | undefined> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const remaining = new Map(ends.filter((e) => Number(e.high) > Number(e.low)).map((e) => [e.partition, e.high]));
  if (remaining.size === 0) return undefined;
  const consumer = kafka.consumer({ groupId: `cdc-snapshot-reader-${Date.now()}-${Math.random()}` });
  await consumer.connect();
  let latest: SnapshotProgress | undefined;
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`could not read ${topic} to its end in 30 s`)), 30_000);
      consumer
        .run({
          eachMessage: ({ partition, message }) => {
            if (message.key?.toString() === slot) {
              latest = message.value ? (JSON.parse(message.value.toString()) as SnapshotProgress) : undefined;
            }
            if (BigInt(message.offset) + 1n >= BigInt(remaining.get(partition) ?? '0')) remaining.delete(partition);
            if (remaining.size === 0) {
              clearTimeout(timer);
              resolve();
            }
            return Promise.resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return latest;
}
