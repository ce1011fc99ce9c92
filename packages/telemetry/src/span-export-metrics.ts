/**
 * Counters of the span processor (`otlp-span-processor.ts`), created once per process and added to the service's
 * registry by `createRegistry`, since tracing starts before the service and its registry exist.
 */
import { Counter } from 'prom-client';

export const spansExported = new Counter({
  name: 'otel_spans_exported_total',
  help: 'Spans the OTLP collector accepted',
  registers: [],
});

export const spansDropped = new Counter({
  name: 'otel_spans_dropped_total',
  help: 'Spans not exported, by reason: collector_behind (pending spans over their bound), post_failed, encode',
  labelNames: ['reason'] as const,
  registers: [],
});
