/**
 * Starts OpenTelemetry for a service: spans go over OTLP/HTTP (protobuf) to the collector (Jaeger), W3C trace context is
 * propagated, and pg is instrumented. Call it before the service imports pg (the entry point imports the rest of
 * the service dynamically after this), since instrumentation patches modules as they load.
 *
 * Not here, on purpose: the HTTP and Express instrumentations (the HTTP APIs open their server spans with one
 * middleware, `@bgc/http-api/server-span`: the HTTP instrumentation cost a sixth of a message send's CPU even for an
 * unrecorded span, and Express's wrapped every middleware of every request), and OpenTelemetry metrics (Prometheus
 * scrapes prom-client registries; the SDK's default reader would otherwise record every request again and push it
 * over OTLP every minute).
 */
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';

export interface TracingOptions {
  serviceName: string;
  /** OTLP/HTTP base URL; `/v1/traces` is appended. */
  otlpUrl: string;
  /**
   * Share of new traces recorded (1 = all). A request that arrives with a sampled traceparent is always recorded,
   * so a trace is never cut in the middle of the pipeline.
   */
  sampleRatio?: number;
}

export interface Tracing {
  /** Flushes pending spans and stops exporting. */
  shutdown(): Promise<void>;
}

export function startTracing(opts: TracingOptions): Tracing {
  const sdk = new NodeSDK({
    serviceName: opts.serviceName,
    metricReaders: [],
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(opts.sampleRatio ?? 1) }),
    // batches spans off the request path; shutdown() flushes what is left
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: `${opts.otlpUrl}/v1/traces` }),
        scheduledDelayMillis: 200,
      }),
    ],
    instrumentations: [
      // a span per query inside a request; none for pool checkouts, none for queries outside a trace
      new PgInstrumentation({ enhancedDatabaseReporting: false, ignoreConnectSpans: true, requireParentSpan: true }),
    ],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}
