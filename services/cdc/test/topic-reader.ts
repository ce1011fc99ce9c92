/** Reads topics from the beginning with a fresh consumer group until a condition holds over what was read. */
import type { Consumer } from 'kafkajs';
import type { TestContext } from '@bgc/testkit/context';

export interface Received {
  topic: string;
  key: string;
  value: string | null;
  headers: Record<string, string>;
  partition: number;
  offset: string;
}

export async function readUntil(
  ctx: TestContext,
  topics: string[],
  done: (records: Received[]) => boolean,
  timeoutMs = 30_000,
): Promise<Received[]> {
  const kafka = ctx.kafka('test-reader');
  const deadline = Date.now() + timeoutMs;
  // topics the CDC service has not created yet would fail the subscription: wait for them
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (;;) {
      const existing = new Set(await admin.listTopics());
      if (topics.every((t) => existing.has(t))) break;
      if (Date.now() > deadline) {
        throw new Error(`topics never appeared: ${topics.filter((t) => !existing.has(t)).join(', ')}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await admin.disconnect();
  }
  let records: Received[] = [];
  // a consumer that crashes for good (a broker that has just restarted is still loading its group coordinator)
  // is replaced by a new group that reads from the beginning again
  while (Date.now() < deadline) {
    records = [];
    const consumer: Consumer = kafka.consumer({
      groupId: `${ctx.topicPrefix}reader.${Math.random().toString(36).slice(2)}`,
    });
    let settle: (outcome: 'done' | 'crashed') => void = () => undefined;
    const outcome = new Promise<'done' | 'crashed' | 'timeout'>((resolve) => {
      settle = resolve;
      setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) settle('crashed');
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics, fromBeginning: true });
      await consumer.run({
        eachMessage: ({ topic, partition, message }) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) if (v) headers[k] = v.toString();
          records.push({
            topic,
            partition,
            offset: message.offset,
            key: message.key?.toString() ?? '',
            value: message.value ? message.value.toString() : null,
            headers,
          });
          if (done(records)) settle('done');
          return Promise.resolve();
        },
      });
      const result = await outcome;
      if (result === 'done') return records;
      if (result === 'timeout') break;
    } finally {
      await consumer.disconnect();
    }
  }
  throw new Error(`condition not met in ${timeoutMs} ms; read ${records.length} records`);
}
