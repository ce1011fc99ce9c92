/**
 * pgoutput messages → Kafka records in Debezium's envelope (`@bgc/events/envelope`), one transaction at a time.
 * Pure: no I/O, so every rule is here to read: keys are primary keys (read from the catalog, since under
 * REPLICA IDENTITY FULL pgoutput flags every column as key); a delete is followed by a tombstone; a primary-key
 * change becomes delete + tombstone + create; an unchanged TOASTed value the WAL does not carry is `UNAVAILABLE`;
 * each event's `sequence` is (commit LSN, index in the transaction).
 */
import type { Pgoutput } from 'pg-logical-replication';
import type { Op, Row, Source, TransactionEvent } from '@bgc/events/envelope';
import { lsnToBigInt, lsnToNumber, UNAVAILABLE } from '@bgc/events/envelope';
import { tableTopic, transactionTopic } from '@bgc/events/topics';

export const TRACEPARENT_PREFIX = 'otel.traceparent';

export interface OutRecord {
  topic: string;
  /** the table's name (`transaction` for the transaction topic), as the topic's last part */
  table: string;
  key: string;
  value: string | null;
  /** the transaction the record belongs to */
  txn: OpenTransaction;
  /** the part of it that one trace wrote (its span adds the traceparent header) */
  segment: TraceSegment;
}

/**
 * The changes of a transaction that follow one `otel.traceparent` message, up to the next one. A transaction of
 * one request has one; a batched statement of the write API emits each request's message right before its row,
 * so each row is attributed to its own request's trace.
 */
export interface TraceSegment {
  /** from the write API's `pg_logical_emit_message(true, 'otel.traceparent', …)`; undefined: a fresh root */
  traceparent: string | undefined;
  /** events in this segment */
  events: number;
  /** the table of its first event (names its span) */
  firstTable: string | undefined;
}

export interface OpenTransaction {
  xid: number;
  commitLsnText: string;
  /** the commit LSN in decimal, as `sequence` carries it (computed once per transaction) */
  commitLsnDecimal: string;
  commitTimeMs: number;
  /** events so far (the index of the next one is this + 1) */
  events: number;
  /** per `schema.table`, in order of first event: its count and its `source` fragments */
  perTable: Map<string, TableInTransaction>;
  /** the segment new events join */
  segment: TraceSegment;
  /** `<txId>:<commit LSN>`, the events' `transaction.id` */
  id: string;
  /** changes (not snapshot reads): only these get BEGIN/END on the transaction topic */
  changes: number;
}

/**
 * A table's events in a transaction so far, and the JSON fragments of `source` that are the same for all of them:
 * `source` up to the event's index in `sequence`, for a change and for a snapshot read, and what follows the index
 * up to `lsn`.
 */
export interface TableInTransaction {
  events: number;
  streamHead: string;
  snapshotHead: string;
  tail: string;
}

/** What every event of a relation shares, worked out once per Relation message (a schema change sends a new one). */
interface RelationInfo {
  topic: string;
  /** `schema.table` */
  collection: string;
  primaryKey: readonly string[];
  /** the record key (the primary key as JSON) of a row */
  keyOf: (row: Row) => string;
}

export interface CommittedTransaction {
  txn: OpenTransaction;
  commitEndLsn: string;
}

export interface BuilderOptions {
  topicPrefix: string;
  database: string;
  connectorVersion: string;
  /** primary-key columns by `schema.table` */
  primaryKeys: ReadonlyMap<string, readonly string[]>;
  now?: () => number;
}

export class ChangeEventBuilder {
  readonly #opts: BuilderOptions;
  readonly #now: () => number;
  #txn: OpenTransaction | undefined;

  constructor(opts: BuilderOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  get openTransaction(): OpenTransaction | undefined {
    return this.#txn;
  }

  /** The records one pgoutput message becomes, and the transaction it committed, if it was a COMMIT. */
  handle(lsn: string, msg: Pgoutput.Message): { records: OutRecord[]; committed?: CommittedTransaction } {
    switch (msg.tag) {
      case 'begin': {
        const commitLsnDecimal = lsnToBigInt(msg.commitLsn ?? '0/0').toString();
        this.#txn = {
          xid: msg.xid,
          commitLsnText: msg.commitLsn ?? '0/0',
          commitLsnDecimal,
          commitTimeMs: Number(BigInt(msg.commitTime as bigint) / 1000n),
          events: 0,
          perTable: new Map(),
          segment: { traceparent: undefined, events: 0, firstTable: undefined },
          id: `${msg.xid}:${commitLsnDecimal}`,
          changes: 0,
        };
        return { records: [] };
      }
      case 'message':
        if (this.#txn && msg.transactional && msg.prefix === TRACEPARENT_PREFIX) {
          this.#txn.segment = {
            traceparent: Buffer.from(msg.content).toString('utf8'),
            events: 0,
            firstTable: undefined,
          };
        }
        return { records: [] };
      case 'insert':
        return { records: this.#row(lsn, msg.relation, 'c', null, msg.new) };
      case 'update':
        return { records: this.#update(lsn, msg) };
      case 'delete':
        return { records: this.#row(lsn, msg.relation, 'd', msg.old ?? msg.key, null) };
      case 'commit': {
        const txn = this.#requireTxn('commit');
        this.#txn = undefined;
        const records = txn.changes > 0 ? [this.#boundary(txn, 'END')] : [];
        return { records, committed: { txn, commitEndLsn: msg.commitEndLsn ?? txn.commitLsnText } };
      }
      default:
        // relation and type messages only feed the parser's cache; origin is unused; truncate is refused upstream
        return { records: [] };
    }
  }

  #requireTxn(what: string): OpenTransaction {
    if (!this.#txn) throw new Error(`pgoutput ${what} outside a transaction: the stream is out of step`);
    return this.#txn;
  }

  #update(lsn: string, msg: Pgoutput.MessageUpdate): OutRecord[] {
    const oldRow = msg.old ?? msg.key;
    const pk = this.#relationInfo(msg.relation).primaryKey;
    if (oldRow && pk.some((c) => oldRow[c] !== undefined && !sameValue(oldRow[c], msg.new[c]))) {
      // the key changed: consumers of the old key see it deleted (and compacted away), the new key created
      return [...this.#row(lsn, msg.relation, 'd', oldRow, null), ...this.#row(lsn, msg.relation, 'c', null, msg.new)];
    }
    return this.#row(lsn, msg.relation, 'u', msg.old, msg.new);
  }

  #row(lsn: string, rel: Pgoutput.MessageRelation, op: Op, before: Row | null, after: Row | null): OutRecord[] {
    const txn = this.#requireTxn(rel.name);
    const records: OutRecord[] = [];
    if (txn.changes === 0) {
      records.push(this.#boundary(txn, 'BEGIN'));
    }
    txn.changes += 1;
    const info = this.#relationInfo(rel);
    const { source, perTable } = this.#count(txn, info.collection, rel.schema, rel.name, lsnToNumber(lsn));
    const { topic } = info;
    const key = info.keyOf((after ?? before) as Row);
    const value = eventJson(
      before ? JSON.stringify(complete(rel, before, op === 'd' ? 'key-only' : 'full')) : 'null',
      after ? JSON.stringify(complete(rel, after, 'full')) : 'null',
      source,
      op,
      this.#now(),
      `{"id":"${txn.id}","total_order":${txn.events},"data_collection_order":${perTable}}`,
    );
    const { segment } = txn;
    const table = rel.name;
    records.push({ topic, table, key, value, txn, segment });
    // compaction removes the key once it sees a null value
    if (op === 'd') records.push({ topic, table, key, value: null, txn, segment });
    return records;
  }

  /**
   * A snapshot read (`op: r`) of a row, published inside the transaction of the snapshot's high watermark, so it
   * takes that point of the stream: after every change the read saw, before every change it did not.
   */
  snapshotRead(schema: string, table: string, primaryKey: readonly string[], row: Row): OutRecord {
    const txn = this.#requireTxn('snapshot read');
    const { source } = this.#count(txn, `${schema}.${table}`, schema, table, null);
    return {
      topic: tableTopic(this.#opts.topicPrefix, schema, table),
      table,
      key: snapshotKey(primaryKey, row),
      value: eventJson('null', JSON.stringify(row), source, 'r', this.#now(), 'null'),
      txn,
      segment: txn.segment,
    };
  }

  /**
   * Counts one more event of the transaction (in all and for its table) and says where it comes from: `source` as
   * JSON, from fragments made once per table and transaction (serializing the whole object for every event was a
   * sixth of this service's CPU at full speed). Fields and their order are `Source`'s, as Debezium writes them.
   */
  #count(txn: OpenTransaction, collection: string, schema: string, table: string, lsn: number | null) {
    txn.events += 1;
    txn.segment.events += 1;
    txn.segment.firstTable ??= table;
    let counts = txn.perTable.get(collection);
    if (!counts) {
      // sequence: encodeSequence(), without BigInt per event
      const head = (snapshot: Source['snapshot']) =>
        JSON.stringify({
          version: this.#opts.connectorVersion,
          connector: 'postgresql',
          name: this.#opts.topicPrefix,
          ts_ms: txn.commitTimeMs,
          // a change has a WAL position of its own; a snapshot read has none
          snapshot,
          db: this.#opts.database,
        }).slice(0, -1) + `,"sequence":"[\\"${txn.commitLsnDecimal}\\",\\"`;
      counts = {
        events: 0,
        streamHead: head('false'),
        snapshotHead: head('true'),
        tail: `\\"]",${JSON.stringify({ schema, table, txId: txn.xid }).slice(1, -1)},"lsn":`,
      };
      txn.perTable.set(collection, counts);
    }
    counts.events += 1;
    const source =
      lsn === null
        ? `${counts.snapshotHead}${txn.events}${counts.tail}null,"xmin":null}`
        : `${counts.streamHead}${txn.events}${counts.tail}${lsn},"xmin":null}`;
    return { source, perTable: counts.events };
  }

  #boundary(txn: OpenTransaction, status: 'BEGIN' | 'END'): OutRecord {
    const event: TransactionEvent = {
      status,
      id: txn.id,
      event_count: status === 'END' ? txn.events : null,
      data_collections:
        status === 'END'
          ? [...txn.perTable].map(([data_collection, { events }]) => ({ data_collection, event_count: events }))
          : null,
      ts_ms: txn.commitTimeMs,
    };
    return {
      topic: transactionTopic(this.#opts.topicPrefix),
      table: 'transaction',
      key: JSON.stringify({ id: txn.id }),
      value: JSON.stringify(event),
      txn,
      segment: txn.segment,
    };
  }

  // the parser makes a new relation object for every Relation message, so an object is one version of a table
  readonly #relations = new WeakMap<Pgoutput.MessageRelation, RelationInfo>();
  #relationInfo(rel: Pgoutput.MessageRelation): RelationInfo {
    let info = this.#relations.get(rel);
    if (!info) {
      const primaryKey = this.#primaryKey(rel);
      info = {
        topic: tableTopic(this.#opts.topicPrefix, rel.schema, rel.name),
        collection: `${rel.schema}.${rel.name}`,
        primaryKey,
        keyOf: keyWriter(primaryKey),
      };
      this.#relations.set(rel, info);
    }
    return info;
  }

  #primaryKey(rel: Pgoutput.MessageRelation): readonly string[] {
    const pk = this.#opts.primaryKeys.get(`${rel.schema}.${rel.name}`);
    if (pk && pk.length > 0) return pk;
    if (rel.replicaIdentity !== 'full' && rel.keyColumns.length > 0) return rel.keyColumns;
    throw new Error(`${rel.schema}.${rel.name} has no primary key: give it one before publishing it`);
  }
}

/** A change event (`ChangeEvent`) as JSON from its parts, each already JSON, in the envelope's field order. */
function eventJson(before: string, after: string, source: string, op: Op, tsMs: number, transaction: string): string {
  return `{"before":${before},"after":${after},"source":${source},"op":"${op}","ts_ms":${tsMs},"transaction":${transaction}}`;
}

/** The record key of a row: its primary key as JSON, columns in key order (the same string the stream makes). */
export function snapshotKey(primaryKey: readonly string[], row: Row): string {
  return JSON.stringify(Object.fromEntries(primaryKey.map((c) => [c, row[c] ?? null])));
}

/**
 * `snapshotKey` for one primary key, from JSON fragments made once: no object per event. A column named like an
 * array index would come first in an object whatever its place in the key, so such keys keep `snapshotKey`.
 */
function keyWriter(primaryKey: readonly string[]): (row: Row) => string {
  const [only, ...more] = primaryKey;
  if (only === undefined || primaryKey.some((c) => /^(0|[1-9][0-9]*)$/.test(c))) {
    return (row) => snapshotKey(primaryKey, row);
  }
  const first = `{${JSON.stringify(only)}:`;
  if (more.length === 0) return (row) => `${first}${JSON.stringify(row[only] ?? null)}}`;
  const rest = more.map((c) => [c, `,${JSON.stringify(c)}:`] as const);
  return (row) => {
    let key = `${first}${JSON.stringify(row[only] ?? null)}`;
    for (const [c, prefix] of rest) key += `${prefix}${JSON.stringify(row[c] ?? null)}`;
    return `${key}}`;
  };
}

/**
 * Every column of the relation, in order. `undefined` from the parser is a value the WAL does not carry: an
 * unchanged TOASTed column (full rows) or a non-key column of a key-only old row (dropped from `before`).
 */
function complete(rel: Pgoutput.MessageRelation, row: Row, shape: 'full' | 'key-only'): Row {
  const out: Row = {};
  for (const { name } of rel.columns) {
    const value = row[name];
    if (value !== undefined) out[name] = value;
    else if (shape === 'full') out[name] = UNAVAILABLE;
  }
  return out;
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
