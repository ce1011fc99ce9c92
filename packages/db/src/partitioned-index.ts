/**
 * Builds an index on a partitioned table without blocking writes, the only way Postgres allows it:
 * CREATE INDEX … ON ONLY the parent (an invalid shell that new partitions inherit), then CREATE INDEX CONCURRENTLY
 * on each leaf, then ALTER INDEX … ATTACH PARTITION; once every partition is attached the parent index turns valid.
 * Sub-partitioned tables (forum_posts) are walked recursively. Safe to re-run after a failure: a leaf index left
 * invalid by an interrupted build is dropped and rebuilt, and attaching skips what is attached.
 */
import type { MigrationBuilder } from 'node-pg-migrate';

export interface PartitionedIndex {
  table: string;
  name: string;
  /** e.g. "USING brin (created_at)" or "(room_id, created_at DESC, id DESC) WHERE room_id IS NOT NULL" */
  definition: string;
}

interface Child {
  name: string;
  partitioned: boolean;
}

const MAX_IDENT = 63;

export async function createPartitionedIndexConcurrently(pgm: MigrationBuilder, index: PartitionedIndex) {
  pgm.noTransaction();
  await build(pgm, index.table, index.name, index.definition, suffixOf(index));
}

export function dropPartitionedIndex(pgm: MigrationBuilder, index: PartitionedIndex) {
  // a partitioned index cannot be dropped CONCURRENTLY; dropping it drops every attached partition index
  pgm.sql(`DROP INDEX IF EXISTS ${index.name}`);
}

function suffixOf(index: PartitionedIndex): string {
  return index.name.startsWith(`${index.table}_`) ? index.name.slice(index.table.length + 1) : index.name;
}

async function build(pgm: MigrationBuilder, table: string, name: string, definition: string, suffix: string) {
  pgm.sql(`CREATE INDEX IF NOT EXISTS ${name} ON ONLY ${table} ${definition}`);
  const children = await pgm.db.select(
    `SELECT c.relname AS name, c.relkind = 'p' AS partitioned
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = '${table}'::regclass ORDER BY c.relname`,
  );
  for (const child of children as Child[]) {
    const childIndex = `${child.name}_${suffix}`.slice(0, MAX_IDENT);
    if (child.partitioned) {
      await build(pgm, child.name, childIndex, definition, suffix);
    } else {
      const invalid = await pgm.db.select(
        `SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('${childIndex}') AND NOT indisvalid`,
      );
      if (invalid.length > 0) pgm.sql(`DROP INDEX CONCURRENTLY IF EXISTS ${childIndex}`);
      pgm.sql(`CREATE INDEX CONCURRENTLY IF NOT EXISTS ${childIndex} ON ${child.name} ${definition}`);
    }
    pgm.sql(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = '${childIndex}'::regclass) THEN
        ALTER INDEX ${name} ATTACH PARTITION ${childIndex};
      END IF; END $$`);
  }
}
