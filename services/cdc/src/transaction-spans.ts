/**
 * One span per published transaction. Its parent is the traceparent the write API emitted into the WAL (so the
 * trace runs HTTP → Postgres → CDC → Kafka), or none (a fresh root) for transactions that carried none; it ends
 * when Kafka has acknowledged the transaction's last event. Each Kafka record carries the span's W3C traceparent.
 */
import type { Span } from '@opentelemetry/api';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { OpenTransaction } from './change-events.ts';

const tracer = trace.getTracer('bgc-cdc');

export class TransactionSpans {
  readonly #open = new Map<OpenTransaction, { span: Span; headers: Record<string, string> }>();

  /** The headers for a record of this transaction (starts its span on first use). */
  headersFor(txn: OpenTransaction): Record<string, string> {
    const known = this.#open.get(txn);
    if (known) return known.headers;
    const parent = txn.traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent: txn.traceparent }) : ROOT_CONTEXT;
    const span = tracer.startSpan(
      `cdc publish ${txn.firstTable ?? 'transaction'}`,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'kafka',
          'db.system': 'postgresql',
          'bgc.txid': txn.xid,
          'bgc.commit_lsn': txn.commitLsnText,
        },
      },
      parent,
    );
    const headers: Record<string, string> = {};
    propagation.inject(trace.setSpan(context.active(), span), headers);
    this.#open.set(txn, { span, headers });
    return headers;
  }

  /** Kafka holds every event of the transaction. */
  durable(txn: OpenTransaction): void {
    const open = this.#open.get(txn);
    if (!open) return;
    open.span.setAttribute('bgc.event_count', txn.events);
    open.span.end();
    this.#open.delete(txn);
  }

  /** The stream broke: these transactions will be re-read from the slot and published again. */
  abandonAll(reason: string): void {
    for (const { span } of this.#open.values()) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
      span.end();
    }
    this.#open.clear();
  }
}
