/**
 * Optional bulk-load mode (generate --defer-indexes): drop the secondary indexes, non-primary unique constraints
 * and foreign keys of the loaded tables before COPY, and rebuild them afterwards from their own definitions
 * (pg_get_indexdef / pg_get_constraintdef), as pg_restore orders a load. Each rebuilt index is one sort instead
 * of millions of B-tree descents, and each foreign key one join instead of a trigger per row. The default keeps
 * everything in place (a production-like load); bench/README.md has both measured. Only for a database the
 * generator created itself (--db): an interrupted load leaves the tables without these until it is recreated.
 */
import type pg from 'pg';

export interface Deferred {
  indexes: { name: string; ddl: string }[];
  uniques: { table: string; name: string; ddl: string }[];
  foreignKeys: { table: string; name: string; ddl: string }[];
}

export async function dropSecondary(db: pg.ClientBase, tables: readonly string[]): Promise<Deferred> {
  const { rows: fks } = await db.query<{ table: string; name: string; def: string }>(
    `SELECT conrelid::regclass::text AS table, conname AS name, pg_get_constraintdef(oid) AS def
       FROM pg_constraint WHERE contype = 'f' AND conparentid = 0 AND conrelid::regclass::text = ANY($1)
      ORDER BY 1, 2`,
    [tables],
  );
  const { rows: uniques } = await db.query<{ table: string; name: string; def: string }>(
    `SELECT conrelid::regclass::text AS table, conname AS name, pg_get_constraintdef(oid) AS def
       FROM pg_constraint WHERE contype = 'u' AND conparentid = 0 AND conrelid::regclass::text = ANY($1)
      ORDER BY 1, 2`,
    [tables],
  );
  const { rows: indexes } = await db.query<{ name: string; def: string }>(
    `SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS def
       FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
      WHERE i.indrelid::regclass::text = ANY($1) AND NOT i.indisprimary AND NOT ic.relispartition
        AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
      ORDER BY 1`,
    [tables],
  );
  const deferred: Deferred = {
    foreignKeys: fks.map((f) => ({ table: f.table, name: f.name, ddl: f.def })),
    uniques: uniques.map((u) => ({ table: u.table, name: u.name, ddl: u.def })),
    // a partitioned index is shown ON ONLY the parent; rebuilt ON the parent, it is built on every partition
    indexes: indexes.map((i) => ({ name: i.name, ddl: i.def.replace(' ON ONLY ', ' ON ') })),
  };
  for (const f of deferred.foreignKeys) await db.query(`ALTER TABLE ${f.table} DROP CONSTRAINT "${f.name}"`);
  for (const u of deferred.uniques) await db.query(`ALTER TABLE ${u.table} DROP CONSTRAINT "${u.name}"`);
  for (const i of deferred.indexes) await db.query(`DROP INDEX "${i.name}"`);
  return deferred;
}

/** Rebuilds what dropSecondary() dropped: indexes, then unique constraints, then foreign keys (validated). */
export async function rebuildSecondary(
  db: pg.ClientBase,
  d: Deferred,
  log: (line: string) => void,
): Promise<{ seconds: number }> {
  const t0 = performance.now();
  const step = async (what: string, sql: string) => {
    const t = performance.now();
    await db.query(sql);
    log(`  ${what} ${((performance.now() - t) / 1000).toFixed(1)} s`);
  };
  for (const i of d.indexes) await step(`index ${i.name}`, i.ddl);
  for (const u of d.uniques)
    await step(`unique ${u.name}`, `ALTER TABLE ${u.table} ADD CONSTRAINT "${u.name}" ${u.ddl}`);
  for (const f of d.foreignKeys) {
    await step(`foreign key ${f.name}`, `ALTER TABLE ${f.table} ADD CONSTRAINT "${f.name}" ${f.ddl}`);
  }
  return { seconds: (performance.now() - t0) / 1000 };
}
