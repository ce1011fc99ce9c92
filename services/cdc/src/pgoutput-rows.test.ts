/**
 * Our row parser (`pgoutput-rows.ts`) against pg-logical-replication's own: the same messages, in pgoutput's wire
 * format, through both plugins must give equal values (types, prototypes, Buffers, unchanged TOAST, key tuples),
 * and both must refuse the same malformed ones.
 */
import crypto from 'node:crypto';
import { PgoutputPlugin } from 'pg-logical-replication';
import { describe, expect, test } from 'vitest';
import { installTypeParsers } from '@bgc/events/pg-values';
import { RowsPgoutputPlugin } from './pgoutput-rows.ts';

installTypeParsers(); // as the service runs: its parsers (timestamps, int8, bytea) and pg's defaults

const options = { protoVersion: 1 as const, publicationNames: ['p'], messages: true };

/** a column type and random text values of it, as Postgres's output functions write them */
const TYPES: { oid: number; text: () => string }[] = [
  { oid: 25, text: () => randomText() }, // text
  { oid: 1043, text: () => randomText() }, // varchar
  { oid: 2950, text: () => crypto.randomUUID() }, // uuid
  { oid: 23, text: () => String(crypto.randomInt(-(2 ** 31), 2 ** 31 - 1)) }, // int4
  { oid: 20, text: () => (Math.random() < 0.5 ? '9223372036854775807' : String(crypto.randomInt(0, 2 ** 47))) },
  { oid: 16, text: () => (Math.random() < 0.5 ? 't' : 'f') }, // bool
  { oid: 1184, text: () => '2026-11-28 02:13:59.123456+00' }, // timestamptz
  { oid: 1114, text: () => '2026-11-28 02:13:59' }, // timestamp
  { oid: 3802, text: () => JSON.stringify({ a: [1, 'ü', null], b: randomText() }) }, // jsonb
  { oid: 17, text: () => `\\x${crypto.randomBytes(crypto.randomInt(0, 20)).toString('hex')}` }, // bytea
  { oid: 1700, text: () => '12345.6789' }, // numeric
];

/** ASCII, multi-byte, astral, a byte-order mark in front (the library's TextDecoder drops it), empty */
function randomText(): string {
  const pick = crypto.randomInt(0, 6);
  if (pick === 0) return '';
  if (pick === 1) return `\uFEFF${crypto.randomBytes(4).toString('hex')}`;
  if (pick === 2) return 'ünïcødé ✓ 🙂 中文';
  return crypto.randomBytes(crypto.randomInt(1, 40)).toString('base64');
}

const int16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const cstring = (s: string) => Buffer.concat([Buffer.from(s), Buffer.from([0])]);

interface Column {
  name: string;
  oid: number;
  key: boolean;
}

function relationMessage(oid: number, name: string, columns: Column[]): Buffer {
  return Buffer.concat([
    Buffer.from('R'),
    int32(oid),
    cstring('public'),
    cstring(name),
    Buffer.from('d'),
    int16(columns.length),
    ...columns.map((c) => Buffer.concat([Buffer.from([c.key ? 1 : 0]), cstring(c.name), int32(c.oid), int32(-1)])),
  ]);
}

/** TupleData with a random kind per column: text (valid, or raw bytes), null, unchanged TOAST, binary */
function tuple(columns: Column[], opts: { toast: boolean; rawBytes?: boolean }): Buffer {
  const parts = [int16(columns.length)];
  for (const c of columns) {
    const roll = Math.random();
    if (roll < 0.1) parts.push(Buffer.from('n'));
    else if (roll < 0.15 && opts.toast) parts.push(Buffer.from('u'));
    else if (roll < 0.2) {
      const bytes = crypto.randomBytes(crypto.randomInt(0, 12));
      parts.push(Buffer.from('b'), int32(bytes.length), bytes);
    } else {
      const type = TYPES.find((t) => t.oid === c.oid) ?? TYPES[0];
      const textual = c.oid === 25 && opts.rawBytes;
      const bytes = textual ? crypto.randomBytes(crypto.randomInt(0, 16)) : Buffer.from(type?.text() ?? '');
      parts.push(Buffer.from('t'), int32(bytes.length), bytes);
    }
  }
  return Buffer.concat(parts);
}

function rowMessage(oid: number, columns: Column[], rawBytes: boolean): Buffer {
  const t = (toast = false) => tuple(columns, { toast, rawBytes });
  switch (crypto.randomInt(0, 6)) {
    case 0:
      return Buffer.concat([Buffer.from('I'), int32(oid), Buffer.from('N'), t()]);
    case 1:
      return Buffer.concat([Buffer.from('U'), int32(oid), Buffer.from('N'), t(true)]);
    case 2:
      return Buffer.concat([Buffer.from('U'), int32(oid), Buffer.from('K'), t(), Buffer.from('N'), t(true)]);
    case 3:
      return Buffer.concat([Buffer.from('U'), int32(oid), Buffer.from('O'), t(), Buffer.from('N'), t(true)]);
    case 4:
      return Buffer.concat([Buffer.from('D'), int32(oid), Buffer.from('K'), t()]);
    default:
      return Buffer.concat([Buffer.from('D'), int32(oid), Buffer.from('O'), t()]);
  }
}

/** what parsing gives: the message, or that it threw */
function outcome(plugin: PgoutputPlugin, message: Buffer): unknown {
  try {
    return plugin.parse(message);
  } catch {
    return 'threw';
  }
}

function randomColumns(): Column[] {
  const n = crypto.randomInt(1, 12);
  return Array.from({ length: n }, (_, i) => ({
    name: i === 3 ? 'toString' : `c${i}_${crypto.randomBytes(2).toString('hex')}`,
    oid: TYPES[crypto.randomInt(0, TYPES.length)]?.oid ?? 25,
    key: i === 0,
  }));
}

describe('pgoutput row messages', () => {
  test('parse to what pg-logical-replication parses them to, on random rows', () => {
    for (let round = 0; round < 40; round++) {
      const theirs = new PgoutputPlugin(options);
      const ours = new RowsPgoutputPlugin(options);
      const relations = [1, 2, 3].map((oid) => ({ oid, columns: randomColumns() }));
      for (const { oid, columns } of relations) {
        const message = relationMessage(oid, `t${oid}`, columns);
        expect(ours.parse(message)).toStrictEqual(theirs.parse(message));
      }
      for (let i = 0; i < 100; i++) {
        const { oid, columns } = relations[i % 3] ?? relations[0]!;
        // fresh buffers (as each replication chunk is), so a binary value is not the same view twice
        const message = rowMessage(oid, columns, round % 4 === 0);
        const expected = outcome(theirs, Buffer.from(message));
        expect(expected).not.toBe('threw');
        expect(outcome(ours, Buffer.from(message))).toStrictEqual(expected);
      }
    }
  });

  test('a relation sent again (a schema change) replaces the one rows are read with', () => {
    const theirs = new PgoutputPlugin(options);
    const ours = new RowsPgoutputPlugin(options);
    const before = [{ name: 'id', oid: 25, key: true }];
    const after = [...before, { name: 'n', oid: 23, key: false }];
    for (const p of [theirs, ours]) p.parse(relationMessage(9, 't', before));
    for (const p of [theirs, ours]) p.parse(relationMessage(9, 't', after));
    const row = Buffer.concat([Buffer.from('I'), int32(9), Buffer.from('N'), tuple(after, { toast: false })]);
    expect(outcome(ours, row)).toStrictEqual(outcome(theirs, row));
  });

  test('refuses what the library refuses: cut short, an unknown relation or kind, more columns than the relation', () => {
    const columns = [
      { name: 'id', oid: 25, key: true },
      { name: 'n', oid: 23, key: false },
    ];
    const theirs = new PgoutputPlugin(options);
    const ours = new RowsPgoutputPlugin(options);
    for (const p of [theirs, ours]) p.parse(relationMessage(5, 't', columns));
    const whole = Buffer.concat([Buffer.from('I'), int32(5), Buffer.from('N'), tuple(columns, { toast: false })]);
    const bad = [
      ...Array.from({ length: whole.length - 1 }, (_, n) => whole.subarray(0, n + 1)),
      Buffer.concat([Buffer.from('I'), int32(6), Buffer.from('N'), tuple(columns, { toast: false })]),
      Buffer.concat([Buffer.from('I'), int32(5), Buffer.from('N'), int16(1), Buffer.from('x')]),
      Buffer.concat([Buffer.from('U'), int32(5), Buffer.from('X'), tuple(columns, { toast: false })]),
      Buffer.concat([Buffer.from('D'), int32(5), Buffer.from('N'), tuple(columns, { toast: false })]),
      Buffer.concat([Buffer.from('I'), int32(5), Buffer.from('N'), tuple([...columns, columns[0]!], { toast: false })]),
    ];
    for (const message of bad) {
      // the whole message less its last bytes may still be a shorter valid one: equal outcomes either way
      expect(outcome(ours, message)).toStrictEqual(outcome(theirs, message));
    }
    expect(outcome(ours, bad.at(-1)!)).toBe('threw');
    expect(outcome(ours, bad.at(-2)!)).toBe('threw');
  });
});
