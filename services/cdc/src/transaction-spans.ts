/**
 * One span per traced part of a published transaction (`TraceSegment`): its parent is the traceparent the write
 * API emitted into the WAL before those changes (so the trace runs HTTP → Postgres → CDC → Kafka), or none (a fresh
 * root) for changes that carried none. A transaction of one request has one span; a batched statement of many
 * requests has one per request, each in its request's trace. Spans end when Kafka has acknowledged the whole
 * transaction. Each Kafka record carries its span's W3C traceparent.
 */
import type { Span } from '@opentelemetry/api';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { OpenTransaction, OutRecord, TraceSegment } from './change-events.ts';

const tracer = trace.getTracer('bgc-cdc');

interface OpenSpan {
  span: Span;
  headers: Record<string, string>;
}

export class TransactionSpans {
  readonly #open = new Map<OpenTransaction, Map<TraceSegment, OpenSpan>>();
  /** the segment of the previous record and its headers: consecutive records mostly share one (no lookups) */
  #last: { segment: TraceSegment; headers: Record<string, string> } | undefined;

  /** The headers for a record (starts its segment's span on first use). */
  headersFor(record: Pick<OutRecord, 'txn' | 'segment'>): Record<string, string> {
    if (this.#last?.segment === record.segment) return this.#last.headers;
    const headers = this.#headersOf(record);
    this.#last = { segment: record.segment, headers };
    return headers;
  }

  #headersOf({ txn, segment }: Pick<OutRecord, 'txn' | 'segment'>): Record<string, string> {
    let segments = this.#open.get(txn);
    const known = segments?.get(segment);
    if (known) return known.headers;
    const parent = segment.traceparent
      ? propagation.extract(ROOT_CONTEXT, { traceparent: segment.traceparent })
      : ROOT_CONTEXT;
    const span = tracer.startSpan(
      `cdc publish ${segment.firstTable ?? 'transaction'}`,
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
    if (!segments) {
      segments = new Map();
      this.#open.set(txn, segments);
    }
    segments.set(segment, { span, headers });
    return headers;
  }

  /** Kafka holds every event of the transaction. */
  durable(txn: OpenTransaction): void {
    const segments = this.#open.get(txn);
    if (!segments) return;
    for (const [segment, { span }] of segments) {
      span.setAttribute('bgc.event_count', segment.events);
      span.setAttribute('bgc.transaction_event_count', txn.events);
      span.end();
    }
    this.#open.delete(txn);
    if (this.#last && segments.has(this.#last.segment)) this.#last = undefined;
  }

  /** The stream broke: these transactions will be re-read from the slot and published again. */
  abandonAll(reason: string): void {
    for (const segments of this.#open.values()) {
      for (const { span } of segments.values()) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
        span.end();
      }
    }
    this.#open.clear();
    this.#last = undefined;
  }
}
