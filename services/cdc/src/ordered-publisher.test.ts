/**
 * The ordered publisher against a fake producer whose sends we answer by hand: batches go one at a time in order,
 * marks become durable only once Kafka has acknowledged everything before them, nothing is sent past a failure,
 * and backpressure holds the caller only until the oldest queued batch is sent.
 */
import type { Message, Producer, ProducerBatch } from 'kafkajs';
import { describe, expect, test } from 'vitest';
import { OrderedPublisher } from './ordered-publisher.ts';

function fakeProducer() {
  const sends: { batch: ProducerBatch; ack: () => void; fail: (e: Error) => void }[] = [];
  const producer = {
    sendBatch: (batch: ProducerBatch) =>
      new Promise((resolve, reject) => sends.push({ batch, ack: () => resolve([]), fail: reject })),
  } as unknown as Producer;
  return { producer, sends };
}

const settle = () => new Promise((r) => setImmediate(r));
const record = (n: number): Message => ({ key: `k${n}`, value: 'x'.repeat(8) });
const values = (batch: ProducerBatch) => batch.topicMessages?.flatMap((t) => t.messages.map((m) => m.key)) ?? [];

function publisher() {
  const { producer, sends } = fakeProducer();
  const durable: number[] = [];
  const failures: unknown[] = [];
  // a batch is taken once it holds 10 bytes: each record (2 + 8 bytes) fills one
  const p = new OrderedPublisher<number>(
    producer,
    { batchBytes: 10, lingerMs: 1, sendTimeoutMs: 60_000 },
    (marks) => durable.push(...marks),
    (e) => failures.push(e),
  );
  return { p, sends, durable, failures };
}

describe('ordered publisher', () => {
  test('one batch in flight at a time, in order; marks durable only after what precedes them is acknowledged', async () => {
    const { p, sends, durable } = publisher();
    expect(p.push('t', record(1))).toBeUndefined();
    p.mark(1);
    expect(p.push('t', record(2))).toBeUndefined();
    p.mark(2);
    await settle();
    expect(sends).toHaveLength(1); // the second waits for the first
    expect(durable).toEqual([]);
    sends[0]?.ack();
    await settle();
    // a mark joins the batch being filled, so mark 1 travels with record 2: durable once that batch is
    expect(durable).toEqual([]);
    expect(sends.map((s) => values(s.batch))).toEqual([['k1'], ['k2']]);
    sends[1]?.ack();
    await new Promise((r) => setTimeout(r, 20)); // the linger sends mark 2's batch (no records: nothing to Kafka)
    expect(durable).toEqual([1, 2]);
    expect(sends).toHaveLength(2);
  });

  test('backpressure past two queued batches, released when the oldest is sent (not when all are)', async () => {
    const { p, sends } = publisher();
    expect(p.push('t', record(1))).toBeUndefined(); // in flight
    expect(p.push('t', record(2))).toBeUndefined(); // queued
    const full = p.push('t', record(3)); // a third unsent batch: wait
    expect(full).toBeInstanceOf(Promise);
    let released = false;
    void full?.then(() => (released = true));
    await settle();
    expect(released).toBe(false);
    sends[0]?.ack();
    await settle();
    expect(released).toBe(true); // batches 2 and 3 still unsent: the caller refills meanwhile
    expect(sends).toHaveLength(2);
    expect(p.push('t', record(4))).toBeInstanceOf(Promise); // three unsent again
    sends[1]?.ack();
    sends.at(-1)?.ack();
    await settle();
    sends.at(-1)?.ack();
    await settle();
    sends.at(-1)?.ack();
    await p.drain();
    expect(sends.map((s) => values(s.batch))).toEqual([['k1'], ['k2'], ['k3'], ['k4']]);
  });

  test('after a failed batch nothing later is sent or made durable, and the caller is told', async () => {
    const { p, sends, durable, failures } = publisher();
    expect(p.push('t', record(1))).toBeUndefined();
    p.mark(1);
    expect(p.push('t', record(2))).toBeUndefined();
    p.mark(2);
    await settle();
    sends[0]?.fail(new Error('broker gone'));
    await settle();
    expect(failures).toHaveLength(1);
    expect(sends).toHaveLength(1);
    expect(durable).toEqual([]);
    expect(() => p.push('t', record(3))).toThrow('broker gone');
    await expect(p.drain()).rejects.toThrow('broker gone');
  });
});
