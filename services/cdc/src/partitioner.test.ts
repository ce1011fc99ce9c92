import crypto from 'node:crypto';
import { Partitioners } from 'kafkajs';
import type { PartitionerArgs } from 'kafkajs';
import { describe, expect, test } from 'vitest';
import { murmur2, murmur2Ascii, Murmur2Partitioner } from './partitioner.ts';

const metadata = (n: number): PartitionerArgs['partitionMetadata'] =>
  Array.from({ length: n }, (_, partitionId) => ({
    partitionId,
    leader: 1,
    partitionErrorCode: 0,
    replicas: [1],
    isr: [1],
  }));

describe('murmur2 partitioner', () => {
  test('puts every key on the partition kafkajs (and so the Java client) puts it on', () => {
    const ours = Murmur2Partitioner();
    const theirs = Partitioners.DefaultPartitioner();
    const keys: (string | Buffer)[] = ['', 'a', 'ab', 'abc', 'abcd', '{"id":"x"}', 'ünïcødé ✓', '🙂🙂🙂'];
    for (let i = 0; i < 4000; i++) {
      const bytes = crypto.randomBytes(i % 97);
      keys.push(i % 2 === 0 ? bytes : JSON.stringify({ id: crypto.randomUUID(), created_at: bytes.toString('hex') }));
    }
    let differing = 0;
    for (const n of [1, 2, 3, 5, 12, 50]) {
      for (const key of keys) {
        const args = { topic: 't', partitionMetadata: metadata(n), message: { key, value: null } };
        if (ours(args) !== theirs(args)) differing += 1;
      }
    }
    expect(differing).toBe(0);
  });

  test('an explicit partition wins; a record without a key still gets a valid partition', () => {
    const ours = Murmur2Partitioner();
    expect(ours({ topic: 't', partitionMetadata: metadata(3), message: { key: 'k', value: null, partition: 2 } })).toBe(
      2,
    );
    const p = ours({ topic: 't', partitionMetadata: metadata(3), message: { value: 'v' } });
    expect([0, 1, 2]).toContain(p);
  });

  test('hashes an ASCII string as its UTF-8 bytes, and leaves any other string to the bytes', () => {
    for (let i = 0; i < 3000; i++) {
      const ascii = crypto
        .randomBytes(i % 70)
        .toString('base64')
        .slice(0, i % 70);
      expect(murmur2Ascii(ascii)).toBe(murmur2(Buffer.from(ascii)));
      const chars = [...ascii];
      chars.splice(i % (chars.length + 1), 0, ['é', '\u0080', '✓', '🙂'][i % 4] ?? 'é');
      expect(murmur2Ascii(chars.join(''))).toBeUndefined();
    }
  });
});
