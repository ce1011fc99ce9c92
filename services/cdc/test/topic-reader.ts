/** Reads topics from the beginning with a fresh consumer group until a condition holds over what was read. */
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
  const consumer = kafka.consumer({ groupId: `${ctx.topicPrefix}reader.${Math.random().toString(36).slice(2)}` });
  await consumer.connect();
  const records: Received[] = [];
  try {
    // topics the CDC service has not created yet would fail the subscription: wait for them
    const admin = kafka.admin();
    await admin.connect();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const existing = new Set(await admin.listTopics());
      if (topics.every((t) => existing.has(t))) break;
      if (Date.now() > deadline)
        throw new Error(`topics never appeared: ${topics.filter((t) => !existing.has(t)).join(', ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await admin.disconnect();
    await consumer.subscribe({ topics, fromBeginning: true });
    let resolveDone: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (resolveDone = resolve));
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
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
        if (done(records)) resolveDone();
        return Promise.resolve();
      },
    });
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), Math.max(0, deadline - Date.now())));
    if ((await Promise.race([finished, timeout])) === 'timeout') {
      throw new Error(`condition not met in ${timeoutMs} ms; read ${records.length} records`);
    }
    return records;
  } finally {
    await consumer.disconnect();
  }
}
