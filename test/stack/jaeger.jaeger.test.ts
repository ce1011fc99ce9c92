import { trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { describe, expect, test } from 'vitest';
import { stackEndpoints } from '@bgc/testkit/context';

interface JaegerTrace {
  traceID: string;
  spans: { spanID: string; operationName: string; processID: string }[];
  processes: Record<string, { serviceName: string }>;
}

describe('jaeger', () => {
  test('a span exported over OTLP (protobuf, as the services do) by @opentelemetry/sdk-node is returned by GET /api/traces/{id}', async () => {
    const { otlpUrl, jaegerUrl } = stackEndpoints();
    const serviceName = `bgc-test-${Date.now()}`;
    const sdk = new NodeSDK({
      serviceName,
      spanProcessors: [new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${otlpUrl}/v1/traces` }) })],
      instrumentations: [],
    });
    sdk.start();
    const span = trace.getTracer('stack-test').startSpan('stack.check', { attributes: { 'bgc.check': true } });
    const { traceId, spanId } = span.spanContext();
    span.end();
    await sdk.shutdown(); // flushes the exporter

    let found: JaegerTrace | undefined;
    const deadline = Date.now() + 20_000;
    while (!found && Date.now() < deadline) {
      const res = await fetch(`${jaegerUrl}/api/traces/${traceId}`);
      if (res.ok) found = ((await res.json()) as { data: JaegerTrace[] }).data[0];
      else await new Promise((r) => setTimeout(r, 200));
    }
    expect(found?.traceID).toBe(traceId);
    expect(found?.spans).toHaveLength(1);
    const s = found?.spans[0];
    expect(s?.spanID).toBe(spanId);
    expect(s?.operationName).toBe('stack.check');
    expect(found?.processes[s?.processID ?? '']?.serviceName).toBe(serviceName);
  });
});
