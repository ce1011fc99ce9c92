/**
 * The partition maintainer: for each policy in maintenance.partition_policy, keeps `premake` future periods
 * created (per category for forum_posts) and drops periods past the retention. Each step is its own
 * transaction, so a lock wait on one table never holds another. Run it on a timer (services/partition-maintainer does) or from
 * `./bgc db partitions`; it is idempotent.
 */
import type pg from 'pg';

export interface MaintenanceReport {
  created: string[];
  dropped: string[];
}

interface Policy {
  parent: string;
  unit: 'month' | 'week';
  premake: number;
  retention: string | null;
  list_column: string | null;
}

export async function maintainPartitions(db: pg.ClientBase, opts: { since?: Date } = {}): Promise<MaintenanceReport> {
  const report: MaintenanceReport = { created: [], dropped: [] };
  const policies = (await db.query<Policy>('SELECT * FROM maintenance.partition_policy ORDER BY parent')).rows;
  for (const p of policies) {
    let parents = [p.parent];
    if (p.list_column) {
      const list = await ensureListPartitions(db, p);
      report.created.push(...list.created);
      parents = list.parents;
    }
    for (const parent of parents) {
      const created = await db.query<{ name: string }>(
        'SELECT maintenance.ensure_range_partitions($1::regclass, $2, $3, $4) AS name',
        [parent, p.unit, p.premake, opts.since ?? new Date()],
      );
      report.created.push(...created.rows.map((r) => r.name));
      if (p.retention) {
        const dropped = await db.query<{ name: string }>(
          'SELECT maintenance.drop_expired_partitions($1::regclass, $2::interval) AS name',
          [parent, p.retention],
        );
        report.dropped.push(...dropped.rows.map((r) => r.name));
      }
    }
  }
  return report;
}

/** forum_posts: makes sure every category has its LIST partition; returns them all and those it created. */
async function ensureListPartitions(db: pg.ClientBase, p: Policy) {
  // the values come from the referenced table (forum_categories for forum_posts.category_id)
  const { rows: ref } = await db.query<{ table: string; column: string }>(
    `SELECT confrelid::regclass::text AS table, a.attname AS column
       FROM pg_constraint con
       JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = con.confkey[1]
       JOIN pg_attribute b ON b.attrelid = con.conrelid AND b.attnum = con.conkey[1]
      WHERE con.conrelid = $1::regclass AND con.contype = 'f' AND b.attname = $2`,
    [p.parent, p.list_column],
  );
  const target = ref[0];
  if (!target) throw new Error(`${p.parent}.${p.list_column} references no table`);
  const { rows: values } = await db.query<{ v: string }>(`SELECT "${target.column}"::text AS v FROM ${target.table}`);
  const parents: string[] = [];
  const created: string[] = [];
  for (const { v } of values) {
    const { rows } = await db.query<{ name: string | null }>(
      'SELECT maintenance.create_list_partition($1::regclass, $2, $3::uuid) AS name',
      [p.parent, p.list_column, v],
    );
    if (rows[0]?.name) created.push(rows[0].name);
    parents.push(listPartitionName(p.parent, v));
  }
  return { parents, created };
}

/** The same name maintenance.create_list_partition() gives. */
export const listPartitionName = (parent: string, value: string) =>
  `${parent}_c${value.replace(/-/g, '').slice(0, 16)}`;
