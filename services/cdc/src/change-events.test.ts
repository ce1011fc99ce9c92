import type { Pgoutput } from 'pg-logical-replication';
import { describe, expect, test } from 'vitest';
import type { ChangeEvent, Row, Source, TransactionEvent } from '@bgc/events/envelope';
import { compareSequence, UNAVAILABLE } from '@bgc/events/envelope';
import { ChangeEventBuilder, snapshotKey } from './change-events.ts';

const relation = (name: string, columns: string[], replicaIdentity: 'default' | 'full'): Pgoutput.MessageRelation => ({
  tag: 'relation',
  relationOid: 1,
  schema: 'public',
  name,
  replicaIdentity,
  columns: columns.map((c) => ({
    name: c,
    flags: 0,
    typeOid: 25,
    typeMod: -1,
    typeSchema: null,
    typeName: null,
    parser: String,
  })),
  keyColumns: [],
});

const rooms = relation('chat_rooms', ['id', 'name', 'description'], 'default');
const begin = (xid: number, lsn: string): Pgoutput.MessageBegin => ({
  tag: 'begin',
  xid,
  commitLsn: lsn,
  commitTime: 1_700_000_000_000_000n,
});
const commit = (lsn: string, end: string): Pgoutput.MessageCommit => ({
  tag: 'commit',
  flags: 0,
  commitLsn: lsn,
  commitEndLsn: end,
  commitTime: 1_700_000_000_000_000n,
});

function builder() {
  return new ChangeEventBuilder({
    topicPrefix: 'bgc',
    database: 'bgc',
    connectorVersion: 'test',
    primaryKeys: new Map([['public.chat_rooms', ['id']]]),
    now: () => 42,
  });
}

describe('change events from pgoutput messages', () => {
  test('a value the WAL does not carry (unchanged TOAST) is the placeholder, never null; a null stays null', () => {
    const b = builder();
    b.handle('0/10', begin(7, '0/20'));
    const { records } = b.handle('0/18', {
      tag: 'update',
      relation: rooms,
      key: null,
      old: null,
      new: { id: 'r1', name: null, description: undefined },
    });
    const event = JSON.parse(records.find((r) => r.topic === 'bgc.public.chat_rooms')?.value ?? '{}') as ChangeEvent;
    expect(event.op).toBe('u');
    expect(event.after).toEqual({ id: 'r1', name: null, description: UNAVAILABLE });
    expect(event.before).toBeNull();
  });

  test('one transaction: BEGIN, events in order with increasing sequences, tombstone after the delete, END with counts', () => {
    const b = builder();
    expect(b.handle('0/100', begin(9, '0/200')).records).toEqual([]);
    const created = b.handle('0/110', {
      tag: 'insert',
      relation: rooms,
      new: { id: 'a', name: 'A', description: null },
    });
    const deleted = b.handle('0/120', { tag: 'delete', relation: rooms, key: { id: 'b' }, old: null });
    const { records, committed } = b.handle('0/200', commit('0/200', '0/228'));
    const all = [...created.records, ...deleted.records, ...records];
    expect(
      all.map((r) => [
        r.topic,
        r.value === null
          ? 'tombstone'
          : ((JSON.parse(r.value) as { op?: string; status?: string }).op ??
            (JSON.parse(r.value) as TransactionEvent).status),
      ]),
    ).toEqual([
      ['bgc.transaction', 'BEGIN'],
      ['bgc.public.chat_rooms', 'c'],
      ['bgc.public.chat_rooms', 'd'],
      ['bgc.public.chat_rooms', 'tombstone'],
      ['bgc.transaction', 'END'],
    ]);
    const events = all
      .filter((r) => r.topic.endsWith('chat_rooms') && r.value)
      .map((r) => JSON.parse(r.value ?? '') as ChangeEvent);
    expect(compareSequence(events[0]?.source.sequence ?? '', events[1]?.source.sequence ?? '')).toBeLessThan(0);
    expect(events[1]?.before).toEqual({ id: 'b' }); // key-only old row: the rest is not invented
    expect(all[3]?.key).toBe(JSON.stringify({ id: 'b' }));
    const end = JSON.parse(all[4]?.value ?? '{}') as TransactionEvent;
    expect(end).toMatchObject({
      event_count: 2,
      data_collections: [{ data_collection: 'public.chat_rooms', event_count: 2 }],
    });
    expect(committed?.commitEndLsn).toBe('0/228');
  });

  test('a transaction with only messages (heartbeats, snapshot markers) publishes no boundary but still commits', () => {
    const b = builder();
    b.handle('0/300', begin(11, '0/310'));
    b.handle('0/301', {
      tag: 'message',
      flags: 1,
      transactional: true,
      messageLsn: '0/301',
      prefix: 'bgc.cdc.heartbeat',
      content: new Uint8Array(),
    });
    const { records, committed } = b.handle('0/310', commit('0/310', '0/338'));
    expect(records).toEqual([]);
    expect(committed?.commitEndLsn).toBe('0/338');
  });

  test('snapshot reads: op r, source.snapshot true, no BEGIN/END, sequence of the carrying transaction', () => {
    const b = builder();
    b.handle('0/400', begin(12, '0/410'));
    const read = b.snapshotRead('public', 'chat_rooms', ['id'], { id: 'z', name: 'Z', description: null });
    const { records } = b.handle('0/410', commit('0/410', '0/438'));
    const event = JSON.parse(read.value ?? '{}') as ChangeEvent;
    expect(event).toMatchObject({ op: 'r', before: null, after: { id: 'z' }, source: { snapshot: 'true' } });
    expect(read.key).toBe(JSON.stringify({ id: 'z' }));
    expect(records).toEqual([]);
  });

  test('each row belongs to the trace message before it: a batched statement of many requests keeps each trace', () => {
    const b = builder();
    const trace = (lsn: string, traceparent: string): Pgoutput.MessageMessage => ({
      tag: 'message',
      flags: 1,
      transactional: true,
      messageLsn: lsn,
      prefix: 'otel.traceparent',
      content: new TextEncoder().encode(traceparent),
    });
    const insert = (id: string): Pgoutput.MessageInsert => ({
      tag: 'insert',
      relation: rooms,
      new: { id, name: id, description: null },
    });
    b.handle('0/500', begin(13, '0/540'));
    const untraced = b.handle('0/501', insert('u')).records;
    b.handle('0/502', trace('0/502', 'tp-a'));
    const a = b.handle('0/503', insert('a')).records;
    b.handle('0/504', trace('0/504', 'tp-b'));
    const bRecords = b.handle('0/505', insert('b')).records;
    const deleted = b.handle('0/506', { tag: 'delete', relation: rooms, key: { id: 'b' }, old: null }).records;
    const { records: end } = b.handle('0/540', commit('0/540', '0/568'));

    expect(untraced.map((r) => r.segment.traceparent)).toEqual([undefined, undefined]); // BEGIN and the row
    expect(a.map((r) => r.segment.traceparent)).toEqual(['tp-a']);
    expect([...bRecords, ...deleted, ...end].map((r) => r.segment.traceparent)).toEqual([
      'tp-b',
      'tp-b',
      'tp-b',
      'tp-b',
    ]);
    expect([untraced[1], a[0], bRecords[0], deleted[0]].map((r) => r?.segment.events)).toEqual([1, 1, 2, 2]);
    expect(new Set([...untraced, ...a, ...bRecords].map((r) => r.txn)).size).toBe(1);
  });

  test('an event is exactly the JSON of its envelope, fields in Debezium order, strings escaped', () => {
    const b = builder();
    b.handle('0/600', begin(14, '1/10'));
    const row = { id: 'q"1', name: 'line\nbreak ✓', description: null };
    const [, created] = b.handle('0/608', { tag: 'insert', relation: rooms, new: row }).records;
    const read = b.snapshotRead('public', 'chat_rooms', ['id'], row);
    const source = (snapshot: 'true' | 'false', index: number, lsn: number | null): Source => ({
      version: 'test',
      connector: 'postgresql',
      name: 'bgc',
      ts_ms: 1_700_000_000_000,
      snapshot,
      db: 'bgc',
      sequence: JSON.stringify([String(0x1_0000_0010), String(index)]),
      schema: 'public',
      table: 'chat_rooms',
      txId: 14,
      lsn,
      xmin: null,
    });
    const expected: ChangeEvent = {
      before: null,
      after: row,
      source: source('false', 1, 0x608),
      op: 'c',
      ts_ms: 42,
      transaction: { id: `14:${0x1_0000_0010}`, total_order: 1, data_collection_order: 1 },
    };
    expect(created?.value).toBe(JSON.stringify(expected));
    const expectedRead: ChangeEvent = {
      before: null,
      after: row,
      source: source('true', 2, null),
      op: 'r',
      ts_ms: 42,
      transaction: null,
    };
    expect(read.value).toBe(JSON.stringify(expectedRead));
  });

  test('record keys are the primary key as JSON, as snapshotKey makes them, for any key shape', () => {
    const keys: [string, string[]][] = [
      ['single', ['id']],
      ['pair', ['user_id', 'created_at']],
      ['odd names', ['a"b', 'ü ✓', 'x\ny']],
      // an index-like name comes first in an object whatever its place in the key
      ['index-like', ['name', '1']],
    ];
    const b = new ChangeEventBuilder({
      topicPrefix: 'bgc',
      database: 'bgc',
      connectorVersion: 'test',
      primaryKeys: new Map(keys.map(([table, pk]) => [`public.${table}`, pk])),
      now: () => 42,
    });
    b.handle('0/700', begin(15, '1/20'));
    const values: unknown[] = [0, -1.5, 2 ** 60, 'q"1', 'line\nbreak ✓', true, null, undefined, { nested: [1, 'x'] }];
    let n = 0;
    for (const [table, pk] of keys) {
      const rel = relation(table, [...pk, 'extra'], 'default');
      for (const value of values) {
        const row: Row = Object.fromEntries([
          ...pk.map((c, i): [string, unknown] => [c, i === 0 ? value : `${c}-${n}`]),
          ['extra', 'e'],
        ]);
        const records = b.handle('0/708', { tag: 'insert', relation: rel, new: row }).records;
        const created = records[records.length - 1];
        expect(created?.key).toBe(snapshotKey(pk, row));
        n += 1;
      }
    }
    expect(n).toBe(keys.length * values.length);
  });
});
