/**
 * Group commit in the application for the hottest write: concurrent requests of one route become one autocommitted
 * statement over arrays (`unnest`), so N sends cost one round trip, one plan and one commit flush instead of N.
 * Nothing waits for a batch to fill: a request is sent at once while fewer than `maxInFlight` statements are
 * running and the last one started at least `intervalMs` ago; requests that arrive meanwhile queue up and leave
 * together. A lone request therefore pays nothing, and batches grow with the load. The interval is what makes
 * them grow: every commit costs the backend, its WAL flush, PgBouncer and the replica's walsender, receiver and
 * replay about as much as several rows. At 1,500 sends/s, four statements sent whenever one returned kept the
 * machine 83–88% busy; two started at least 10 ms apart, 60–63% (session 8, `bench/README.md`).
 *
 * Every request keeps its own guarantees: the statement emits each request's traceparent as a transactional logical
 * message right before that request's row (the CDC service attributes each row to the trace message before it),
 * a request whose condition fails emits and writes nothing, and all of them commit together or not at all. If the
 * statement fails, each request is retried alone, so one bad request cannot fail the others.
 *
 * The answer's Commit-LSN comes from the same round trip: the batch is sent as one simple-protocol message,
 * `BEGIN; <statement>; COMMIT; SELECT pg_current_wal_lsn()`, so the position is read after the commit, by the
 * backend that made it, without a second query (parameters are inlined as escaped literals for it: the simple
 * protocol has none).
 */
import type { Context, Span } from '@opentelemetry/api';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import type pg from 'pg';
import type { Histogram } from 'prom-client';

export interface BatchedStatement<Row extends pg.QueryResultRow> {
  /**
   * SQL over arrays: `$1` is `text[]` of the requests' traceparents (NULL for an untraced request: the emitting
   * function is strict and emits nothing), `$2`… one array per element of a request's `values`, in order.
   */
  text: string;
  /** which returned row answers which request (undefined: nothing was written for it) */
  assign: (rows: Row[], requests: readonly (readonly unknown[])[]) => (Row | undefined)[];
}

export interface BatchOptions {
  /** most requests in one statement */
  maxBatch: number;
  /** most statements of this route running at once (each holds one pooled connection) */
  maxInFlight: number;
  /** least time between the starts of two statements, unless a full batch is waiting (0: none) */
  intervalMs: number;
  /** observes the size of each statement's batch */
  sizes?: Histogram<'route'>;
  /** names the batch in spans and metrics */
  route: string;
}

/** A request's row (undefined: its condition refused it) and a WAL position at or past its commit. */
export interface BatchedResult<Row> {
  row: Row | undefined;
  lsn: string;
}

interface Pending<Row> {
  values: readonly unknown[];
  traceparent: string | null;
  ctx: Context;
  span: Span | undefined;
  resolve: (result: BatchedResult<Row>) => void;
  reject: (err: unknown) => void;
}

/**
 * One column of the batch (an array of scalars) as an escaped array literal, e.g. E'{"a",NULL}'. A NUL, which no
 * Postgres text can hold, becomes `\x00`, which Postgres refuses as it refuses a NUL parameter (22021).
 */
export function arrayLiteral(column: unknown): string {
  if (!Array.isArray(column)) throw new TypeError('a batched parameter is an array, one element per request');
  const elements = column.map((v: unknown) => {
    if (v === null || v === undefined) return 'NULL';
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new TypeError(`a batched value must be a string, number or boolean, not ${typeof v}`);
    }
    return `"${String(v).replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  });
  const text = `{${elements.join(',')}}`;
  return `E'${text.replaceAll('\\', '\\\\').replaceAll("'", "''").replaceAll('\0', '\\x00')}'`;
}

const tracer = trace.getTracer('bgc-write-api');

export class StatementBatcher<Row extends pg.QueryResultRow> {
  readonly #pool: pg.Pool;
  readonly #statement: BatchedStatement<Row>;
  readonly #opts: BatchOptions;
  #queue: Pending<Row>[] = [];
  #inFlight = 0;
  #pumpScheduled = false;
  #lastStart = -Infinity;
  #intervalTimer: NodeJS.Timeout | undefined;

  /** the database span's name and statement (parameterized: never the values) */
  readonly #spanName: string;
  readonly #spanStatement: string;

  constructor(pool: pg.Pool, statement: BatchedStatement<Row>, opts: BatchOptions) {
    this.#pool = pool;
    this.#statement = statement;
    this.#opts = opts;
    this.#spanName = `pg.query:INSERT ${opts.route}`;
    this.#spanStatement = `BEGIN; ${statement.text}; COMMIT; SELECT pg_current_wal_lsn()`;
  }

  /** Runs one request's write; resolves with its row (undefined when its condition refused it) and the LSN. */
  submit(values: readonly unknown[], traceparent: string | undefined): Promise<BatchedResult<Row>> {
    return new Promise((resolve, reject) => {
      this.#queue.push({
        values,
        traceparent: traceparent ?? null,
        ctx: context.active(),
        span: trace.getActiveSpan(),
        resolve,
        reject,
      });
      // requests parsed in the same turn of the event loop leave together
      if (!this.#pumpScheduled) {
        this.#pumpScheduled = true;
        setImmediate(() => {
          this.#pumpScheduled = false;
          this.#pump();
        });
      }
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#opts.maxInFlight && this.#queue.length > 0) {
      const now = performance.now();
      const wait = this.#lastStart + this.#opts.intervalMs - now;
      if (wait > 0 && this.#queue.length < this.#opts.maxBatch) {
        if (this.#intervalTimer === undefined) {
          this.#intervalTimer = setTimeout(() => {
            this.#intervalTimer = undefined;
            this.#pump();
          }, wait);
        }
        return;
      }
      this.#lastStart = now;
      const batch = this.#queue.splice(0, this.#opts.maxBatch);
      this.#inFlight += 1;
      void this.#runBatch(batch).finally(() => {
        this.#inFlight -= 1;
        this.#pump();
      });
    }
  }

  async #runBatch(batch: Pending<Row>[]): Promise<void> {
    this.#opts.sizes?.observe({ route: this.#opts.route }, batch.length);
    try {
      const { rows, lsn } = await this.#execute(batch);
      batch.forEach((p, i) => p.resolve({ row: rows[i], lsn }));
    } catch (err) {
      if (batch.length === 1) {
        batch[0]?.reject(err);
        return;
      }
      // isolate the cause: each request alone, so only a request that fails by itself fails
      await Promise.all(
        batch.map((p) =>
          this.#execute([p]).then(
            ({ rows, lsn }) => p.resolve({ row: rows[0], lsn }),
            (e: unknown) => p.reject(e),
          ),
        ),
      );
    }
  }

  /**
   * One statement for the batch. It runs in the first request's context, so the database span sits in that
   * request's trace; each other request's server span links to the leader's and says how many shared it (a link,
   * not a span of its own: one span fewer to make and export per batched send).
   */
  async #execute(batch: Pending<Row>[]): Promise<{ rows: (Row | undefined)[]; lsn: string }> {
    const [leader] = batch;
    if (!leader) return { rows: [], lsn: '0/0' };
    const width = leader.values.length;
    const columns: unknown[][] = Array.from({ length: width }, () => new Array<unknown>(batch.length));
    batch.forEach((p, r) => p.values.forEach((v, c) => ((columns[c] as unknown[])[r] = v)));
    const parameters = [batch.map((p) => p.traceparent), ...columns];
    const leaderSpan = leader.span?.spanContext();
    for (const { span } of batch) {
      span?.setAttribute('bgc.batch.size', batch.length);
      if (leaderSpan && span && span !== leader.span) {
        span.addLink({ context: leaderSpan, attributes: { 'bgc.batch.leader': true } });
      }
    }
    const { rows, lsn } = await context.with(leader.ctx, () => this.#commit(parameters));
    return {
      rows: this.#statement.assign(
        rows,
        batch.map((p) => p.values),
      ),
      lsn,
    };
  }

  /**
   * The statement in a transaction of its own, and the WAL position after its commit, in one round trip. Its span
   * is ours, with the parameterized statement: the pg instrumentation's would carry the inlined values (message
   * contents) to the trace store.
   */
  async #commit(parameters: unknown[]): Promise<{ rows: Row[]; lsn: string }> {
    const statement = this.#statement.text.replace(/\$(\d+)\b/g, (_, n: string) =>
      arrayLiteral(parameters[Number(n) - 1]),
    );
    const client = await this.#pool.connect();
    const span = tracer.startSpan(this.#spanName, {
      kind: SpanKind.CLIENT,
      attributes: { 'db.system': 'postgresql', 'db.statement': this.#spanStatement },
    });
    let broken: Error | undefined;
    try {
      // one Query message: node-postgres answers it with one result per statement
      const results = (await context.with(suppressTracing(trace.setSpan(context.active(), span)), () =>
        client.query(`BEGIN;\n${statement};\nCOMMIT;\nSELECT pg_current_wal_lsn()::text AS lsn`),
      )) as unknown as pg.QueryResult[];
      const lsn = (results[3]?.rows[0] as { lsn?: string } | undefined)?.lsn;
      if (!results[1] || !lsn) throw new Error('the batched statement did not answer with its rows and a WAL position');
      return { rows: results[1].rows as Row[], lsn };
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(err) });
      // a failed statement leaves the transaction open and aborted: end it before the connection is reused
      await client.query('ROLLBACK').catch((rollbackFailed: unknown) => (broken = rollbackFailed as Error));
      throw err;
    } finally {
      client.release(broken);
      span.end();
    }
  }
}
