import { describe, expect, test } from 'vitest';
import { bigIntToLsn, compareSequence, decodeSequence, encodeSequence, lsnToBigInt } from './envelope.ts';

describe('LSNs and sequences', () => {
  test('LSN text and numbers round-trip, zero-padded or not', () => {
    expect(lsnToBigInt('16/B374D848')).toBe(0x16b374d848n);
    expect(lsnToBigInt('00000016/B374D848')).toBe(0x16b374d848n);
    expect(bigIntToLsn(0x16b374d848n)).toBe('16/B374D848');
    expect(() => lsnToBigInt('nonsense')).toThrow(/not an LSN/);
  });

  test('sequences order by commit LSN first, then by index, as numbers', () => {
    const a = encodeSequence(100n, 9);
    const b = encodeSequence(100n, 10);
    const c = encodeSequence(1000n, 1);
    expect(compareSequence(a, b)).toBeLessThan(0); // 9 < 10, though "9" > "10" as text
    expect(compareSequence(b, c)).toBeLessThan(0);
    expect(compareSequence(c, c)).toBe(0);
    expect(decodeSequence(a)).toEqual([100n, 9]);
    expect(() => decodeSequence('[1]')).toThrow(/not a sequence/);
  });
});
