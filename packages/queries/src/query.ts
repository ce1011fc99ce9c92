/**
 * How a production query is written down: a name, parameterized SQL, typed parameters and row, and the plan it
 * must keep (checked by plans.pg.test.ts); `run` executes one as an unnamed statement (queries.ts says why).
 */
import type pg from 'pg';

export interface PlanExpectation {
  /** Every one of these indexes must appear in the plan (an index of a partition counts as its parent's). */
  indexes: readonly string[];
  /** At least one index of each group must appear: lookups where either of two indexes is as good. */
  anyOf?: readonly (readonly string[])[];
  /** Partitioned tables: the most leaf partitions the plan may keep after pruning. */
  partitions?: readonly { table: string; max: number; perListPartition?: boolean }[];
}

export interface Query<P extends readonly unknown[], R> {
  readonly name: string;
  readonly text: string;
  readonly plan: PlanExpectation;
  /** Type carriers only (never set): the parameter tuple and the row. */
  readonly params?: P;
  readonly row?: R;
}

export const query = <P extends readonly unknown[], R>(
  name: string,
  plan: PlanExpectation,
  text: string,
): Query<P, R> => ({
  name,
  plan,
  text: text.trim(),
});

export type Queryable = Pick<pg.ClientBase, 'query'>;

export async function run<P extends readonly unknown[], R extends pg.QueryResultRow>(
  db: Queryable,
  q: Query<P, R>,
  params: P,
): Promise<R[]> {
  return (await db.query<R>({ text: q.text, values: [...params] })).rows;
}

/** A uuid, and a timestamp as ISO-8601 text (a cursor's `t`, 'infinity', '-infinity') or a Date. */
export type Uuid = string;
export type Time = string | Date;

/** A timestamp as a cursor's `t`: UTC with all six digits of microseconds (a JavaScript Date keeps three). */
export const cursorT = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
