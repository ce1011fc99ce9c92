/**
 * Reads EXPLAIN (FORMAT JSON) of a query: which indexes and relations it scans, mapped from partitions to their
 * partitioned parents, and how many leaf partitions survive pruning. The plan test checks the expectations of
 * queries.ts with it; the benchmarks print it.
 */
import type { PlanExpectation, Query, Queryable } from './query.ts';

export interface ScanFacts {
  node: string;
  /** The scanned relation (a leaf partition for partitioned tables). */
  relation: string;
  /** Its top-level table (itself when not a partition). */
  root: string;
  /** The partition directly above a leaf (for forum_posts: the category's LIST partition), else null. */
  parent: string | null;
  index: string | null;
  /** Planner's estimate of rows in the relation (pg_class.reltuples). */
  relationRows: number;
  /** With ANALYZE: whether the node ran at all (ordered Append and LIMIT leave later partitions unexecuted). */
  executed: boolean | null;
}

export interface PlanFacts {
  scans: ScanFacts[];
  /** Root names of the indexes used (a partition's index counts as its partitioned parent index). */
  indexes: Set<string>;
  /** Partitions removed at executor start-up (run-time pruning), summed over Append nodes. */
  subplansRemoved: number;
  /** Estimated rows of the top node. */
  rows: number;
  executionMs: number | null;
  json: unknown;
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Plan Rows'?: number;
  'Actual Loops'?: number;
  'Subplans Removed'?: number;
  Plans?: PlanNode[];
}

function walk(node: PlanNode, visit: (n: PlanNode) => void): void {
  visit(node);
  for (const child of node.Plans ?? []) walk(child, visit);
}

export async function explain(
  db: Queryable,
  text: string,
  params: readonly unknown[],
  opts: { analyze?: boolean } = {},
): Promise<PlanFacts> {
  const options = opts.analyze ? 'ANALYZE, BUFFERS, FORMAT JSON' : 'FORMAT JSON';
  const { rows } = await db.query<{ 'QUERY PLAN': [{ Plan: PlanNode; 'Execution Time'?: number }] }>({
    text: `EXPLAIN (${options}) ${text}`,
    values: [...params],
  });
  const top = rows[0]!['QUERY PLAN'][0];
  const raw: { node: string; relation: string; index: string | null; loops: number | undefined }[] = [];
  const indexNames: string[] = [];
  let subplansRemoved = 0;
  walk(top.Plan, (n) => {
    subplansRemoved += n['Subplans Removed'] ?? 0;
    // a Bitmap Index Scan names its index but not its relation (the Bitmap Heap Scan above it does)
    if (n['Index Name']) indexNames.push(n['Index Name']);
    if (n['Relation Name']) {
      raw.push({
        node: n['Node Type'],
        relation: n['Relation Name'],
        index: n['Index Name'] ?? null,
        loops: n['Actual Loops'],
      });
    }
  });
  const names = [...new Set([...raw.map((s) => s.relation), ...indexNames])];
  const { rows: info } = await db.query<{ name: string; root: string; parent: string | null; reltuples: number }>(
    `SELECT c.relname AS name, coalesce(pg_partition_root(c.oid), c.oid)::regclass::text AS root,
            (SELECT i.inhparent::regclass::text FROM pg_inherits i WHERE i.inhrelid = c.oid) AS parent,
            c.reltuples::float8 AS reltuples
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relname = ANY($1)`,
    [names],
  );
  const byName = new Map(info.map((r) => [r.name, r]));
  const scans = raw.map((s): ScanFacts => {
    const rel = byName.get(s.relation);
    const root = rel?.root ?? s.relation;
    return {
      node: s.node,
      relation: s.relation,
      root,
      parent: rel?.parent && rel.parent !== root ? rel.parent : null,
      index: s.index,
      relationRows: Math.max(0, rel?.reltuples ?? 0),
      executed: s.loops === undefined ? null : s.loops > 0,
    };
  });
  const indexes = new Set(indexNames.map((i) => byName.get(i)?.root ?? i));
  return {
    scans,
    indexes,
    subplansRemoved,
    rows: top.Plan['Plan Rows'] ?? 0,
    executionMs: top['Execution Time'] ?? null,
    json: top,
  };
}

export const explainQuery = <P extends readonly unknown[], R>(
  db: Queryable,
  q: Query<P, R>,
  params: P,
  opts: { analyze?: boolean } = {},
) => explain(db, q.text, params, opts);

/** Leaf partitions of `table` kept in the plan (distinct), and the most kept under any one LIST partition. */
export function partitionsKept(facts: PlanFacts, table: string): { total: number; perListPartition: number } {
  const leaves = new Map<string, string | null>();
  for (const s of facts.scans) if (s.root === table && s.relation !== table) leaves.set(s.relation, s.parent);
  const perParent = new Map<string, number>();
  for (const parent of leaves.values()) if (parent) perParent.set(parent, (perParent.get(parent) ?? 0) + 1);
  return { total: leaves.size, perListPartition: Math.max(0, ...perParent.values()) };
}

/**
 * What is wrong with a plan against its expectation: a missing index, a partitioned table not pruned enough,
 * or a sequential scan of a relation larger than `largeRows`. Empty when the plan is as intended.
 */
export function planProblems(facts: PlanFacts, expected: PlanExpectation, largeRows: number): string[] {
  const problems: string[] = [];
  for (const group of expected.anyOf ?? []) {
    if (!group.some((index) => facts.indexes.has(index)))
      problems.push(`uses none of ${group.join(', ')} (uses ${[...facts.indexes].join(', ') || 'no index'})`);
  }
  for (const index of expected.indexes) {
    if (!facts.indexes.has(index))
      problems.push(`does not use ${index} (uses ${[...facts.indexes].join(', ') || 'no index'})`);
  }
  for (const p of expected.partitions ?? []) {
    const kept = partitionsKept(facts, p.table);
    const n = p.perListPartition ? kept.perListPartition : kept.total;
    if (n > p.max)
      problems.push(
        `keeps ${n} partitions of ${p.table}${p.perListPartition ? ' in one category' : ''} (at most ${p.max})`,
      );
  }
  for (const s of facts.scans) {
    if (s.node === 'Seq Scan' && s.relationRows > largeRows) {
      problems.push(`Seq Scan on ${s.relation} (${Math.round(s.relationRows)} rows)`);
    }
  }
  return problems;
}
