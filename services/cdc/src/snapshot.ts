/**
 * Snapshots of existing rows (`op: r`) while the stream runs, after Debezium's DDD-3 watermarks. For each chunk of
 * a table (keyset on the primary key): emit a LOW marker into the WAL, read the chunk, emit a HIGH marker. The
 * stream sees the markers in commit order; between them it notes the keys of the changes it streams, and at HIGH it
 * publishes the chunk's rows except those keys, in the HIGH marker's transaction. A row changed while its chunk
 * was read is therefore published by its streamed change (newer), never overwritten by the older read; a row read
 * before a change is published before it. One chunk at a time, so memory holds one chunk.
 *
 * Progress (table and last key of the last published chunk) is a record on a compacted topic, sent after the
 * chunk's rows in the same ordered stream: when Kafka holds it, it holds the rows. A restart resumes after it.
 */
import crypto from 'node:crypto';
import type pg from 'pg';
import type { Row } from '@bgc/events/envelope';
import { snapshotKey } from './change-events.ts';
import type { PublishedTable } from './source-setup.ts';

export const SNAPSHOT_MARKER = 'bgc.cdc.snapshot';

export interface SnapshotProgress {
  state: 'running' | 'done';
  /** the table being read (`schema.table`) and the key after which to continue */
  table?: string;
  after?: Row | null;
  /** an on-demand snapshot of these tables only (`schema.table`); absent: every published table */
  tables?: string[];
}

/** The message an operator emits to ask for a snapshot of some tables while the stream runs (see cli.ts). */
export const SIGNAL_PREFIX = 'bgc.cdc.signal';

interface Chunk {
  id: string;
  table: PublishedTable;
  rows: Row[];
  seen: Set<string>;
  open: boolean;
  last: Row | null;
}

export interface ChunkReady {
  table: PublishedTable;
  rows: Row[];
  progress: SnapshotProgress;
}

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

export class Snapshotter {
  readonly #db: pg.Client;
  readonly #tables: PublishedTable[];
  readonly #chunkSize: number;
  #tableIndex: number;
  #after: Row | null;
  #chunk: Chunk | undefined;
  #published: (() => void) | undefined;

  readonly #only: string[] | undefined;

  constructor(db: pg.Client, tables: PublishedTable[], chunkSize: number, from: SnapshotProgress | undefined) {
    this.#db = db;
    this.#only = from?.tables;
    const only = from?.tables;
    tables = only ? tables.filter((t) => only.includes(`${t.schema}.${t.table}`)) : tables;
    this.#tables = tables;
    this.#chunkSize = chunkSize;
    const at = from?.table ? tables.findIndex((t) => `${t.schema}.${t.table}` === from.table) : 0;
    this.#tableIndex = Math.max(0, at);
    this.#after = from?.after ?? null;
  }

  /** Reads every chunk of every table in turn; each waits until the stream has published the one before. */
  async run(signal: AbortSignal): Promise<void> {
    while (this.#tableIndex < this.#tables.length && !signal.aborted) {
      const table = this.#tables[this.#tableIndex];
      if (!table) break;
      const id = crypto.randomUUID();
      const chunk: Chunk = { id, table, rows: [], seen: new Set(), open: false, last: this.#after };
      this.#chunk = chunk;
      const published = new Promise<void>((resolve) => (this.#published = resolve));
      await this.#mark(id, 'low');
      chunk.rows = await this.#read(table, this.#after);
      await this.#mark(id, 'high');
      await Promise.race([published, new Promise((resolve) => signal.addEventListener('abort', resolve))]);
      const last = chunk.rows.at(-1);
      if (chunk.rows.length < this.#chunkSize || !last) {
        this.#tableIndex += 1;
        this.#after = null;
      } else {
        this.#after = Object.fromEntries(table.primaryKey.map((c) => [c, last[c]]));
      }
    }
  }

  /** A change the stream is publishing: inside an open window it supersedes the chunk's read of that row. */
  noteChange(topicTable: string, key: string): void {
    const chunk = this.#chunk;
    if (chunk?.open && chunk.table.table === topicTable) chunk.seen.add(key);
  }

  /** A marker from the stream; at HIGH, the chunk's rows to publish and the progress to record after them. */
  onMarker(content: string): ChunkReady | undefined {
    const { id, mark } = JSON.parse(content) as { id: string; mark: 'low' | 'high' };
    const chunk = this.#chunk;
    if (!chunk || chunk.id !== id) return undefined; // a marker of an earlier run of the process
    if (mark === 'low') {
      chunk.open = true;
      return undefined;
    }
    chunk.open = false;
    const rows = chunk.rows.filter((r) => !chunk.seen.has(snapshotKey(chunk.table.primaryKey, r)));
    const last = chunk.rows.at(-1);
    const tableDone = chunk.rows.length < this.#chunkSize || !last;
    const isLast = tableDone && this.#tableIndex >= this.#tables.length - 1;
    const next = tableDone ? this.#tables[this.#tableIndex + 1] : chunk.table;
    const progress: SnapshotProgress = isLast
      ? { state: 'done' }
      : {
          state: 'running',
          table: next ? `${next.schema}.${next.table}` : undefined,
          after: tableDone || !last ? null : Object.fromEntries(chunk.table.primaryKey.map((c) => [c, last[c]])),
          ...(this.#only ? { tables: this.#only } : {}),
        };
    return { table: chunk.table, rows, progress };
  }

  /** The stream has handed the chunk to the publisher: read the next one. */
  chunkPublished(): void {
    this.#published?.();
  }

  async #mark(id: string, mark: 'low' | 'high') {
    await this.#db.query(`SELECT pg_logical_emit_message(true, $1, $2)`, [
      SNAPSHOT_MARKER,
      JSON.stringify({ id, mark }),
    ]);
  }

  async #read(table: PublishedTable, after: Row | null): Promise<Row[]> {
    const pk = table.primaryKey.map(ident).join(', ');
    const where = after ? `WHERE (${pk}) > (${table.primaryKey.map((_, i) => `$${i + 1}`).join(', ')})` : '';
    const { rows } = await this.#db.query<Row>(
      `SELECT ${table.columns.map(ident).join(', ')} FROM ${ident(table.schema)}.${ident(table.table)} ${where}
        ORDER BY ${pk} LIMIT ${this.#chunkSize}`,
      after ? table.primaryKey.map((c) => after[c]) : [],
    );
    return rows;
  }
}
