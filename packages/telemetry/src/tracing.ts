/**
 * Starts OpenTelemetry for a service: spans go over OTLP/HTTP (protobuf) to the collector (Jaeger), encoded a few
 * at a time as they end (`otlp-span-processor.ts` says why not the SDK's batch processor), W3C trace context is
 * propagated, and pg is instrumented. Call it before the service imports pg (the entry point imports the rest of
 * the service dynamically after this), since instrumentation patches modules as they load.
 *
 * Not here, on purpose: the HTTP and Express instrumentations (the HTTP APIs open their server spans with one
 * middleware, `@bgc/http-api/server-span`: the HTTP instrumentation cost a sixth of a message send's CPU even for an
 * unrecorded span, and Express's wrapped every middleware of every request), and OpenTelemetry metrics (Prometheus
 * scrapes prom-client registries; the SDK's default reader would otherwise record every request again and push it
 * over OTLP every minute).
 */
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import { OtlpSpanProcessor } from './otlp-span-processor.ts';

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
    // posts spans off the request path, at most 200 ms after they end; shutdown() flushes what is left
    spanProcessors: [new OtlpSpanProcessor({ url: `${opts.otlpUrl}/v1/traces`, intervalMs: 200 })],
    instrumentations: [
      // a span per query inside a request; none for pool checkouts, none for queries outside a trace
      new PgInstrumentation({ enhancedDatabaseReporting: false, ignoreConnectSpans: true, requireParentSpan: true }),
    ],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}
