import { Partitioners } from 'kafkajs';
import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';

describe('kafka', () => {
  test('kafkajs creates a topic, produces idempotently with acks=all and consumes the messages back in order', async () => {
    await using ctx = await openTestContext('kafka');
    const kafka = ctx.kafka();
    const topic = `${ctx.topicPrefix}roundtrip`;
    const admin = kafka.admin();
    await admin.connect();
    try {
      expect(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true })).toBe(true);
      const cluster = await admin.describeCluster();
      expect(cluster.brokers).toHaveLength(1);

      const producer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      const sent = Array.from({ length: 60 }, (_, i) => ({ key: `k${i % 6}`, value: String(i) }));
      await producer.send({ topic, acks: -1, messages: sent });
      await producer.disconnect();

      const groupId = `${ctx.topicPrefix}group`;
      const consumer = kafka.consumer({ groupId });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const received: { key: string; value: string }[] = [];
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${received.length} of 60 messages within 30 s`)), 30_000);
        void consumer.run({
          eachMessage: ({ message }) => {
            received.push({ key: message.key?.toString() ?? '', value: message.value?.toString() ?? '' });
            if (received.length === sent.length) {
              clearTimeout(timer);
              resolve();
            }
            return Promise.resolve();
          },
        });
      });
      await consumer.disconnect();

      expect(received.map((m) => m.value).sort()).toEqual(sent.map((m) => m.value).sort());
      // one key always lands on one partition, so each key's messages come back in the order they were sent
      for (let k = 0; k < 6; k++) {
        const values = received.filter((m) => m.key === `k${k}`).map((m) => Number(m.value));
        expect(values).toEqual([...values].sort((a, b) => a - b));
      }
      // the group's offsets were committed through the broker (Kafka 4 removed the old protocol versions)
      const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
      const committed = offsets[0]?.partitions.reduce((sum, p) => sum + Number(p.offset), 0);
      expect(committed).toBe(60);
    } finally {
      await admin.disconnect();
    }
  });
});
