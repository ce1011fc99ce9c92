/**
 * The change events on Kafka, in Debezium's JSON envelope (schemas off), so tools that read Debezium topics read
 * ours: `before`, `after`, `source`, `op` (c create, u update, d delete, r snapshot read), `ts_ms`, `transaction`.
 * The key is the row's primary key as a JSON object; a delete is followed by a tombstone (same key, null value).
 *
 * Values are JSON: text, uuid, enum, numeric and timestamps (RFC 3339, microseconds, UTC) as strings, integers as
 * numbers (int8 beyond 2^53 as strings), booleans, jsonb as JSON. A column whose value the WAL does not carry (an
 * unchanged TOASTed value of a table without REPLICA IDENTITY FULL) holds `UNAVAILABLE`, never null.
 */

/** Debezium's placeholder for "unchanged, not in this event": merge with what you have. */
export const UNAVAILABLE = '__debezium_unavailable_value';

export type Row = Record<string, unknown>;

export type Op = 'c' | 'u' | 'd' | 'r';

export interface Source {
  version: string;
  connector: 'postgresql';
  /** the topic prefix, Debezium's logical server name */
  name: string;
  /** commit time of the transaction */
  ts_ms: number;
  snapshot: 'true' | 'last' | 'false';
  db: string;
  /**
   * JSON array of two decimal strings: the transaction's commit LSN and the event's index in the transaction.
   * Compared as a pair of numbers it orders every event of the stream; a redelivered event has the same one.
   */
  sequence: string;
  schema: string;
  table: string;
  txId: number | null;
  /** the change's own WAL position */
  lsn: number | null;
  xmin: null;
}

export interface ChangeEvent {
  before: Row | null;
  after: Row | null;
  source: Source;
  op: Op;
  /** when the CDC service produced the event */
  ts_ms: number;
  transaction: { id: string; total_order: number; data_collection_order: number } | null;
}

export interface TransactionEvent {
  status: 'BEGIN' | 'END';
  /** `<txId>:<commit LSN>`, as in the events' `transaction.id` */
  id: string;
  event_count: number | null;
  data_collections: { data_collection: string; event_count: number }[] | null;
  ts_ms: number;
}

/** `16/B374D848` → 97500059720n */
export function lsnToBigInt(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  if (hi === undefined || lo === undefined) throw new Error(`not an LSN: ${lsn}`);
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

/** `16/B374D848` as a number, without BigInt (exact below 2^53 bytes of WAL, 8 PiB): for every event's `lsn` */
export function lsnToNumber(lsn: string): number {
  const slash = lsn.indexOf('/');
  return parseInt(lsn.slice(0, slash), 16) * 0x1_0000_0000 + parseInt(lsn.slice(slash + 1), 16);
}

export function bigIntToLsn(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function encodeSequence(commitLsn: bigint, index: number): string {
  return JSON.stringify([commitLsn.toString(), String(index)]);
}

/** [commit LSN, index]: compare the commit LSN first, then the index. */
export function decodeSequence(sequence: string): [bigint, number] {
  const parsed = JSON.parse(sequence) as unknown;
  if (!Array.isArray(parsed) || parsed.length !== 2) throw new Error(`not a sequence: ${sequence}`);
  return [BigInt(String(parsed[0])), Number(parsed[1])];
}

export function compareSequence(a: string, b: string): number {
  const [al, ai] = decodeSequence(a);
  const [bl, bi] = decodeSequence(b);
  return al === bl ? ai - bi : al < bl ? -1 : 1;
}
