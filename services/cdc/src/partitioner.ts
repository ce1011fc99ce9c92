/**
 * Kafka's default partitioner (murmur2 of the key bytes, as the Java client and Debezium use), computed with 32-bit
 * integer arithmetic. kafkajs's own DefaultPartitioner picks the same partitions but emulates the arithmetic with a
 * 64-bit Long object per step, which cost about a tenth of this service's CPU at full speed (profiled in
 * bench/cdc-throughput.ts). Same key, same partition as kafkajs and the Java client: a unit test holds it to that,
 * so topics written before keep their per-key order.
 */
import type { ICustomPartitioner } from 'kafkajs';
import { Partitioners } from 'kafkajs';

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's `Utils.murmur2` (32-bit, signed result). */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = (data[i4] as number) | ((data[i4 + 1] as number) << 8) | ((data[i4 + 2] as number) << 16);
    k |= (data[i4 + 3] as number) << 24;
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  // the last 1–3 bytes (Java's switch falls through from the highest)
  const tail = length & ~3;
  const rest = length & 3;
  if (rest === 3) h ^= (data[tail + 2] as number) << 16;
  if (rest >= 2) h ^= (data[tail + 1] as number) << 8;
  if (rest >= 1) h = Math.imul(h ^ (data[tail] as number), M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * `murmur2` of a string's UTF-8 bytes when they are its char codes (all ASCII, as our keys mostly are), without
 * encoding it into a Buffer first (an allocation per record); undefined when a char is not ASCII.
 */
export function murmur2Ascii(s: string): number | undefined {
  const length = s.length;
  let h = SEED ^ length;
  const length4 = length >>> 2;
  let ascii = 0;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    const b0 = s.charCodeAt(i4);
    const b1 = s.charCodeAt(i4 + 1);
    const b2 = s.charCodeAt(i4 + 2);
    const b3 = s.charCodeAt(i4 + 3);
    ascii |= b0 | b1 | b2 | b3;
    let k = b0 | (b1 << 8) | (b2 << 16) | (b3 << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = length & ~3;
  const rest = length & 3;
  for (let i = tail; i < length; i++) ascii |= s.charCodeAt(i);
  if (ascii >= 0x80) return undefined;
  if (rest === 3) h ^= s.charCodeAt(tail + 2) << 16;
  if (rest >= 2) h ^= s.charCodeAt(tail + 1) << 8;
  if (rest >= 1) h = Math.imul(h ^ s.charCodeAt(tail), M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partitioner for `kafka.producer({ createPartitioner })`. Records without a key go round robin (kafkajs's). */
export const Murmur2Partitioner: ICustomPartitioner = () => {
  const keyless = Partitioners.DefaultPartitioner();
  return (args) => {
    const { message, partitionMetadata } = args;
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    const key = message.key;
    if (key === null || key === undefined) return keyless(args);
    const hash = typeof key === 'string' ? (murmur2Ascii(key) ?? murmur2(Buffer.from(key))) : murmur2(key);
    return (hash & 0x7fffffff) % partitionMetadata.length;
  };
};
