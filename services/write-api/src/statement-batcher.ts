/**
 * Group commit in the application for the hottest write: concurrent requests of one route become one autocommitted
 * statement over arrays (`unnest`), so N sends cost one round trip, one plan and one commit flush instead of N.
 * Nothing waits for a batch to fill: a request is sent at once while fewer than `maxInFlight` statements are
 * running; requests that arrive while they run queue up and leave together when one returns. A lone request
 * therefore pays nothing, and batches grow only as fast as the load does.
 *
 * Every request keeps its own guarantees: the statement emits each request's traceparent as a transactional logical
 * message right before that request's row (the CDC service attributes each row to the trace message before it),
 * a request whose condition fails emits and writes nothing, and all of them commit together or not at all. If the
 * statement fails, each request is retried alone, so one bad request cannot fail the others.
 */
import type { Context, Link, Span } from '@opentelemetry/api';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
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
  /** observes the size of each statement's batch */
  sizes?: Histogram<'route'>;
  /** names the batch in spans and metrics */
  route: string;
}

interface Pending<Row> {
  values: readonly unknown[];
  traceparent: string | null;
  ctx: Context;
  span: Span | undefined;
  resolve: (row: Row | undefined) => void;
  reject: (err: unknown) => void;
}

const tracer = trace.getTracer('bgc-write-api');

export class StatementBatcher<Row extends pg.QueryResultRow> {
  readonly #pool: pg.Pool;
  readonly #statement: BatchedStatement<Row>;
  readonly #opts: BatchOptions;
  #queue: Pending<Row>[] = [];
  #inFlight = 0;
  #pumpScheduled = false;

  constructor(pool: pg.Pool, statement: BatchedStatement<Row>, opts: BatchOptions) {
    this.#pool = pool;
    this.#statement = statement;
    this.#opts = opts;
  }

  /** Runs one request's write; resolves with its row, or undefined when its condition refused it. */
  submit(values: readonly unknown[], traceparent: string | undefined): Promise<Row | undefined> {
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
      const rows = await this.#execute(batch);
      batch.forEach((p, i) => p.resolve(rows[i]));
    } catch (err) {
      if (batch.length === 1) {
        batch[0]?.reject(err);
        return;
      }
      // isolate the cause: each request alone, so only a request that fails by itself fails
      await Promise.all(
        batch.map((p) =>
          this.#execute([p]).then(
            (rows) => p.resolve(rows[0]),
            (e: unknown) => p.reject(e),
          ),
        ),
      );
    }
  }

  /**
   * One statement for the batch. It runs in the first request's context, so the database span sits in that
   * request's trace; the others get a span of their own that links to it and says how many shared it.
   */
  async #execute(batch: Pending<Row>[]): Promise<(Row | undefined)[]> {
    const [leader] = batch;
    if (!leader) return [];
    const width = leader.values.length;
    const columns: unknown[][] = Array.from({ length: width }, () => new Array<unknown>(batch.length));
    batch.forEach((p, r) => p.values.forEach((v, c) => ((columns[c] as unknown[])[r] = v)));
    const parameters = [batch.map((p) => p.traceparent), ...columns];
    const leaderSpan = leader.span?.spanContext();
    const links: Link[] = leaderSpan ? [{ context: leaderSpan, attributes: { 'bgc.batch.leader': true } }] : [];
    const followers = batch
      .slice(1)
      .map((p) =>
        tracer.startSpan(
          `batched ${this.#opts.route}`,
          { links, attributes: { 'bgc.batch.size': batch.length } },
          p.ctx,
        ),
      );
    try {
      const { rows } = await context.with(leader.ctx, () => {
        leader.span?.setAttribute('bgc.batch.size', batch.length);
        return this.#pool.query<Row>(this.#statement.text, parameters);
      });
      return this.#statement.assign(
        rows,
        batch.map((p) => p.values),
      );
    } catch (err) {
      for (const s of followers) s.setStatus({ code: SpanStatusCode.ERROR, message: String(err) });
      throw err;
    } finally {
      for (const s of followers) s.end();
    }
  }
}
