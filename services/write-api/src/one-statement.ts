/**
 * The fast path for the hottest writes: the whole write as one autocommitted statement sent with node-postgres,
 * one round trip instead of the five of an interactive Prisma transaction (BEGIN, trace message, write, COMMIT,
 * WAL position), and none of Prisma's per-query work. bench/write-api-load.ts measures the difference.
 *
 * The statement keeps the guarantees of `writeTx`: it selects `FROM ${TRACE_SOURCE}`, a subquery that emits the
 * traceparent as a transactional logical message; the write's rows come from it, so the message is emitted ahead of
 * the row changes, and only once the write's own conditions hold (an uncorrelated WHERE is a one-time filter
 * evaluated before the subquery is read); it commits atomically, being one statement. The statement starts with
 * its verb, so its span reads `pg.query:INSERT`. Requests with
 * an Idempotency-Key, and statements that write nothing (so the route must say why), take the transactional path.
 */
import type pg from 'pg';

/** `$1` is the traceparent (NULL when the request is not traced: the function is strict and emits nothing). */
export const TRACE_SOURCE = `(SELECT pg_logical_emit_message(true, 'otel.traceparent', $1::text)) AS trace`;

export interface OneStatement<Row> {
  /** SQL whose rows come `FROM ${TRACE_SOURCE}`; the route's own parameters start at `$2` */
  text: string;
  values: unknown[];
  /** the answer from the returned rows, or undefined to run the route's handler in a transaction instead */
  answer: (rows: Row[]) => { status: number; body: unknown } | undefined;
}

export async function runOneStatement<Row extends pg.QueryResultRow>(
  pool: pg.Pool,
  traceparent: string | undefined,
  statement: OneStatement<Row>,
) {
  const { rows } = await pool.query<Row>(statement.text, [traceparent ?? null, ...statement.values]);
  return statement.answer(rows);
}
