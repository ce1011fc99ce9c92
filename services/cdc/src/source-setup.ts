/**
 * What the stream needs from Postgres and Kafka before it starts: the publication (made by the migrations, since
 * only a table's owner may publish it), the slot (made here, after the publication, as the replication role),
 * the primary keys of the published tables, and the topics with their settings.
 */
import type { Admin, ITopicConfig } from 'kafkajs';
import type pg from 'pg';
import { tableTopic, topicKind, transactionTopic } from '@bgc/events/topics';
import { snapshotTopic } from './snapshot-progress.ts';

export class CdcError extends Error {
  readonly code: string;
  /** false: retrying cannot help, an operator must act (the message says how) */
  readonly retryable: boolean;
  constructor(code: string, message: string, opts: { retryable: boolean; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.code = code;
    this.retryable = opts.retryable;
  }
}

export interface PublishedTable {
  schema: string;
  table: string;
  primaryKey: string[];
  /** the published columns (a publication's column list may leave some out) */
  columns: string[];
}

export async function publishedTables(db: pg.Client, publication: string): Promise<PublishedTable[]> {
  const pub = await db.query('SELECT pubviaroot FROM pg_publication WHERE pubname = $1', [publication]);
  if (pub.rowCount === 0) {
    throw new CdcError(
      'PUBLICATION_MISSING',
      `publication ${publication} does not exist in this database: run ./bgc db setup (the migrations create it)`,
      { retryable: false },
    );
  }
  const { rows } = await db.query<PublishedTable>(
    `SELECT t.schemaname AS schema, t.tablename AS "table", t.attnames::text[] AS columns,
            coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord)
                        FROM pg_index i
                        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                       WHERE i.indrelid = format('%I.%I', t.schemaname, t.tablename)::regclass AND i.indisprimary),
                     '{}') AS "primaryKey"
       FROM pg_publication_tables t WHERE t.pubname = $1 ORDER BY 1, 2`,
    [publication],
  );
  return rows;
}

export type FoundSlot =
  | { kind: 'ok'; confirmedFlushLsn: string }
  /** invalidated: it fell behind max_slot_wal_keep_size and the WAL it needed is gone */
  | { kind: 'lost' }
  | { kind: 'missing' };

/** The slot's state; its confirmed position is where the stream resumes, whatever this process read before. */
export async function findSlot(db: pg.Client, slot: string, database: string): Promise<FoundSlot> {
  const found = await db.query<{ lsn: string | null; wal_status: string | null; database: string; plugin: string }>(
    `SELECT confirmed_flush_lsn::text AS lsn, wal_status, database, plugin FROM pg_replication_slots
      WHERE slot_name = $1`,
    [slot],
  );
  const row = found.rows[0];
  if (!row) return { kind: 'missing' };
  if (row.database !== database || row.plugin !== 'pgoutput') {
    throw new CdcError(
      'SLOT_CONFLICT',
      `slot ${slot} belongs to database ${row.database} with plugin ${row.plugin}: choose another BGC_CDC_SLOT`,
      { retryable: false },
    );
  }
  if (row.wal_status === 'lost' || row.lsn === null) return { kind: 'lost' };
  return { kind: 'ok', confirmedFlushLsn: row.lsn };
}

export async function createSlot(db: pg.Client, slot: string): Promise<string> {
  const made = await db.query<{ lsn: string }>(
    `SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')`,
    [slot],
  );
  return made.rows[0]?.lsn ?? '0/0';
}

export async function dropSlot(db: pg.Client, slot: string): Promise<void> {
  await db.query('SELECT pg_drop_replication_slot($1)', [slot]);
}

/**
 * Entity topics compacted (replaying one rebuilds current state), history topics and the transaction topic kept
 * for a retention period. Existing topics are left as they are.
 */
export async function ensureTopics(
  admin: Admin,
  opts: { prefix: string; partitions: number; historyRetentionMs: number; tables: PublishedTable[] },
): Promise<string[]> {
  const retention = (ms: number): ITopicConfig['configEntries'] => [
    { name: 'cleanup.policy', value: 'delete' },
    { name: 'retention.ms', value: String(ms) },
  ];
  const wanted: ITopicConfig[] = opts.tables.map(({ schema, table }) => ({
    topic: tableTopic(opts.prefix, schema, table),
    numPartitions: opts.partitions,
    configEntries:
      topicKind(table) === 'history'
        ? retention(opts.historyRetentionMs)
        : [
            { name: 'cleanup.policy', value: 'compact' },
            // tombstones stay a day, so a consumer that was down for hours still sees deletes
            { name: 'delete.retention.ms', value: String(24 * 3600 * 1000) },
          ],
  }));
  wanted.push({
    topic: snapshotTopic(opts.prefix),
    numPartitions: 1,
    configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
  });
  wanted.push({
    topic: transactionTopic(opts.prefix),
    numPartitions: 1,
    configEntries: retention(opts.historyRetentionMs),
  });
  const existing = new Set(await admin.listTopics());
  const missing = wanted.filter((t) => !existing.has(t.topic));
  if (missing.length > 0) await admin.createTopics({ topics: missing, waitForLeaders: true });
  return missing.map((t) => t.topic);
}
