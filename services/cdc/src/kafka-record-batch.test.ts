/**
 * The one-pass RecordBatch encoder our kafkajs patch adds (`src/protocol/recordBatch/v0/encodePartition.js`,
 * `patches/kafkajs@2.2.4.patch`) against kafkajs's own record and batch encoders, which the patch leaves as they
 * were: byte for byte, for thousands of random records (keys, values and headers as strings, Buffers, nulls,
 * multi-byte UTF-8, header arrays, explicit timestamps), and for whole produce requests.
 */
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, test, vi } from 'vitest';

const require = createRequire(import.meta.url);

type Value = string | Buffer | null;
interface Message {
  key?: Value;
  value: Value;
  headers?: Record<string, string | Buffer | (string | Buffer)[]>;
  timestamp?: string;
}
interface Bytes {
  buffer: Buffer;
}
type Long = unknown;
interface PartitionArgs {
  partition: number;
  messages: Message[];
  dateNow: number;
  firstTimestamp: number | string;
  maxTimestamp: number | string;
  producerId: Long;
  producerEpoch: number;
  firstSequence: number;
  transactional: boolean;
}

const kafkajs = 'kafkajs/src/protocol';
const encodePartition = require(`${kafkajs}/recordBatch/v0/encodePartition`) as (args: PartitionArgs) => Buffer | null;
const Record = require(`${kafkajs}/recordBatch/record/v0`) as (record: object) => Bytes;
const { RecordBatch } = require(`${kafkajs}/recordBatch/v0`) as {
  RecordBatch: (batch: object) => Promise<Bytes & { size(): number }>;
};
const Encoder = require(`${kafkajs}/encoder`) as new () => EncoderApi;
interface EncoderApi extends Bytes {
  writeInt16(n: number): EncoderApi;
  writeInt32(n: number): EncoderApi;
  writeString(s: string | null): EncoderApi;
  writeArray(items: EncoderApi[]): EncoderApi;
  writeEncoder(e: Bytes): EncoderApi;
  writeBuffer(b: Buffer): EncoderApi;
}
const Long = require('kafkajs/src/utils/long') as { fromValue(v: number | string): Long };
const produceV7 = require(`${kafkajs}/requests/produce/v7/request`) as (request: object) => {
  encode(): Promise<Bytes>;
};
const createRequest = require(`${kafkajs}/request`) as (args: object) => Promise<Bytes>;

/** kafkajs's partition encoding before the patch (produce request v3, the part the new encoder replaces) */
async function kafkajsPartition(args: PartitionArgs): Promise<Buffer> {
  const { messages, dateNow, firstTimestamp } = args;
  const records = messages.map((message, i) =>
    Record({
      ...message,
      offsetDelta: i,
      // kafkajs: (message.timestamp || dateNow) - firstTimestamp, numeric strings coerced
      timestampDelta: Number(message.timestamp ?? dateNow) - Number(firstTimestamp),
    }),
  );
  const batch = await RecordBatch({ ...args, compression: 0, records, lastOffsetDelta: records.length - 1 });
  return new Encoder().writeInt32(args.partition).writeInt32(batch.size()).writeEncoder(batch).buffer;
}

const pick = <T>(xs: readonly T[]): T => xs[crypto.randomInt(xs.length)] as T;
function randomText(): string {
  const length = pick([0, 1, 2, 7, 63, 64, 127, 128, 300, 16_400]);
  const ascii = crypto.randomBytes(length).toString('base64').slice(0, length);
  // some 2-, 3- and 4-byte UTF-8 characters (the last a surrogate pair) among the ASCII
  const wide = Array.from({ length: crypto.randomInt(4) }, () => pick(['é', '✓', '🙂']));
  return wide.reduce((s, c) => {
    const at = crypto.randomInt(s.length + 1);
    return s.slice(0, at) + c + s.slice(at);
  }, ascii);
}
function randomValue(): Value {
  const r = crypto.randomInt(6);
  return r === 0 ? null : r === 1 ? Buffer.from(randomText()) : randomText();
}
function randomMessage(dateNow: number): Message {
  const message: Message = { key: randomValue(), value: randomValue() };
  if (crypto.randomInt(4) === 0) delete message.key;
  if (crypto.randomInt(2) === 0) {
    message.headers = { traceparent: `00-${crypto.randomBytes(16).toString('hex')}-01` };
    if (crypto.randomInt(3) === 0) message.headers[randomText()] = [randomText(), Buffer.from(randomText())];
    if (crypto.randomInt(3) === 0) message.headers.empty = [];
  }
  // kafkajs takes timestamps as strings; deltas before and after the batch's first
  if (crypto.randomInt(5) === 0) message.timestamp = String(dateNow + crypto.randomInt(2_000_000_000) - 1_000_000_000);
  return message;
}
function partitionArgs(messages: Message[], dateNow: number): PartitionArgs {
  // as the produce request computes them (a string sort, as kafkajs does)
  const stamps = messages.flatMap((m) => (m.timestamp === undefined ? [] : [m.timestamp])).sort();
  const timestamps = stamps.length === 0 ? [dateNow] : stamps;
  return {
    partition: crypto.randomInt(64),
    messages,
    dateNow,
    firstTimestamp: timestamps[0] ?? dateNow,
    maxTimestamp: timestamps[timestamps.length - 1] ?? dateNow,
    producerId: Long.fromValue(pick([-1, 0, 1, 2 ** 31, 2 ** 40 + 7])),
    producerEpoch: crypto.randomInt(1000),
    firstSequence: crypto.randomInt(2 ** 31),
    transactional: crypto.randomInt(2) === 0,
  };
}

describe('one-pass RecordBatch encoder (kafkajs patch)', () => {
  afterEach(() => vi.restoreAllMocks());

  test('writes the bytes kafkajs writes, for many random batches', async () => {
    let records = 0;
    for (let i = 0; i < 200; i++) {
      const dateNow = 1_700_000_000_000 + crypto.randomInt(1_000_000);
      const messages = Array.from({ length: 1 + crypto.randomInt(pick([2, 20, 200])) }, () => randomMessage(dateNow));
      const args = partitionArgs(messages, dateNow);
      const ours = encodePartition(args);
      expect(ours?.toString('hex')).toBe((await kafkajsPartition(args)).toString('hex'));
      records += messages.length;
    }
    expect(records).toBeGreaterThan(1000);
  }, 60_000);

  test('a CDC-like batch: JSON keys and values, a traceparent header each', async () => {
    const dateNow = Date.now();
    const messages = Array.from({ length: 2000 }, (_, i) => ({
      key: `{"id":"${crypto.randomUUID()}"}`,
      value: i % 10 === 9 ? null : JSON.stringify({ before: null, after: { id: i, name: randomText() }, op: 'c' }),
      headers: {
        traceparent: `00-${crypto.randomBytes(16).toString('hex')}-${crypto.randomBytes(8).toString('hex')}-01`,
      },
    }));
    const args = partitionArgs(messages, dateNow);
    expect(encodePartition(args)?.equals(await kafkajsPartition(args))).toBe(true);
  });

  test('records sharing one headers object (as a span gives them), in runs and alternating; a batch after a refused one', async () => {
    const dateNow = Date.now();
    const shared = [0, 1, 2].map(() => ({ traceparent: `00-${crypto.randomBytes(16).toString('hex')}-01` }));
    for (let i = 0; i < 50; i++) {
      const messages = Array.from({ length: 1 + crypto.randomInt(300) }, (_, n) => ({
        ...randomMessage(dateNow),
        headers: i % 2 === 0 ? shared[Math.floor(n / 7) % 3] : n % 4 === 3 ? undefined : shared[n % 2],
      }));
      // refused midway: what it staged must not leak into the next batch
      expect(
        encodePartition(partitionArgs([...messages, { key: 'k', value: 42 as unknown as string }], dateNow)),
      ).toBeNull();
      const args = partitionArgs(messages, dateNow);
      expect(encodePartition(args)?.equals(await kafkajsPartition(args))).toBe(true);
    }
  });

  test('leaves what kafkajs rejects or treats differently to kafkajs (returns null)', () => {
    const dateNow = Date.now();
    const odd: Message[] = [
      { key: 'k', value: 'v', headers: { h: null as unknown as string } },
      { key: 42 as unknown as string, value: 'v' },
      { key: 'k', value: new Uint8Array([1, 2]) as unknown as Buffer },
      { key: 'k', value: 'v', timestamp: 'not a number' },
    ];
    for (const message of odd) expect(encodePartition(partitionArgs([message], dateNow))).toBeNull();
  });

  test("a request's framing (size, api key and version, correlation id, client id) is unchanged", async () => {
    for (const clientId of ['bgc-cdc', 'ünï', '', null]) {
      const payload = new Encoder().writeBuffer(crypto.randomBytes(crypto.randomInt(5000)));
      const framed = await createRequest({
        correlationId: 77,
        clientId,
        request: { apiKey: 0, apiVersion: 7, encode: () => Promise.resolve(payload) },
      });
      // kafkajs's own: the header and payload in one Encoder, then its size and it in another
      const inner = new Encoder()
        .writeInt16(0)
        .writeInt16(7)
        .writeInt32(77)
        .writeString(clientId)
        .writeBuffer(payload.buffer);
      const theirs = new Encoder().writeInt32(inner.buffer.length).writeBuffer(inner.buffer).buffer;
      expect(framed.buffer.equals(theirs)).toBe(true);
    }
  });

  test('whole produce requests (v7, as the broker gets them) are unchanged', async () => {
    const dateNow = 1_700_000_000_123;
    vi.spyOn(Date, 'now').mockReturnValue(dateNow);
    for (let i = 0; i < 20; i++) {
      const topicData = Array.from({ length: 1 + crypto.randomInt(3) }, (_, t) => ({
        topic: `topic-${t}`,
        partitions: Array.from({ length: 1 + crypto.randomInt(4) }, (_, partition) => ({
          partition,
          firstSequence: crypto.randomInt(100_000),
          messages: Array.from({ length: 1 + crypto.randomInt(50) }, () => randomMessage(dateNow)),
        })),
      }));
      const request = { acks: -1, timeout: 30_000, producerId: Long.fromValue(9), producerEpoch: 3, topicData };
      const ours = (await produceV7(request).encode()).buffer;
      const topics: EncoderApi[] = [];
      for (const { topic, partitions } of topicData) {
        const encoded: EncoderApi[] = [];
        for (const { partition, firstSequence, messages } of partitions) {
          const args = { ...partitionArgs(messages, dateNow), partition, firstSequence, transactional: false };
          const bytes = await kafkajsPartition({ ...args, producerId: request.producerId, producerEpoch: 3 });
          encoded.push(new Encoder().writeBuffer(bytes));
        }
        topics.push(new Encoder().writeString(topic).writeArray(encoded));
      }
      const theirs = new Encoder().writeString(null).writeInt16(-1).writeInt32(30_000).writeArray(topics).buffer;
      expect(ours.equals(theirs)).toBe(true);
    }
  }, 60_000);
});
