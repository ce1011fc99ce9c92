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

/** One 4-byte block (little-endian) into the hash. */
function mix(h: number, block: number): number {
  let k = Math.imul(block, M);
  k ^= k >>> 24;
  return Math.imul(h, M) ^ Math.imul(k, M);
}

/** The last 1–3 bytes (Java's switch falls through from the highest), then the final avalanche. */
function finish(h: number, rest: number, b0: number, b1: number, b2: number): number {
  if (rest === 3) h ^= b2 << 16;
  if (rest >= 2) h ^= b1 << 8;
  if (rest >= 1) h = Math.imul(h ^ b0, M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's `Utils.murmur2` (32-bit, signed result). */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const tail = length & ~3;
  for (let i = 0; i < tail; i += 4) {
    h = mix(
      h,
      (data[i] as number) |
        ((data[i + 1] as number) << 8) |
        ((data[i + 2] as number) << 16) |
        ((data[i + 3] as number) << 24),
    );
  }
  return finish(h, length & 3, data[tail] ?? 0, data[tail + 1] ?? 0, data[tail + 2] ?? 0);
}

/**
 * `murmur2` of a string's UTF-8 bytes when they are its char codes (all ASCII, as our keys mostly are), without
 * encoding it into a Buffer first (an allocation per record); undefined when a char is not ASCII.
 */
export function murmur2Ascii(s: string): number | undefined {
  const length = s.length;
  let h = SEED ^ length;
  const tail = length & ~3;
  let ascii = 0;
  for (let i = 0; i < tail; i += 4) {
    const b0 = s.charCodeAt(i);
    const b1 = s.charCodeAt(i + 1);
    const b2 = s.charCodeAt(i + 2);
    const b3 = s.charCodeAt(i + 3);
    ascii |= b0 | b1 | b2 | b3;
    h = mix(h, b0 | (b1 << 8) | (b2 << 16) | (b3 << 24));
  }
  for (let i = tail; i < length; i++) ascii |= s.charCodeAt(i);
  if (ascii >= 0x80) return undefined;
  // past the end charCodeAt gives NaN, which `finish` reads only for bytes that exist
  return finish(h, length & 3, s.charCodeAt(tail), s.charCodeAt(tail + 1), s.charCodeAt(tail + 2));
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
