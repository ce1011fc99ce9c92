import { context, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { expect, test } from 'vitest';
import { stackEndpoints } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import { OtlpSpanProcessor } from './otlp-span-processor.ts';

interface JaegerTrace {
  traceID: string;
  spans: {
    spanID: string;
    operationName: string;
    processID: string;
    references: { refType: string; spanID: string }[];
    tags: { key: string; value: unknown }[];
  }[];
  processes: Record<string, { serviceName: string }>;
}

test('spans encoded a few at a time and posted as one joined request reach Jaeger whole: every span, its parent, its attributes', async () => {
  const { otlpUrl, jaegerUrl } = stackEndpoints();
  const serviceName = `bgc-otlp-chunks-${Date.now()}`;
  // 3 spans a chunk, 11 spans: four encoded chunks laid end to end in one post
  const processor = new OtlpSpanProcessor({ url: `${otlpUrl}/v1/traces`, chunkSpans: 3, intervalMs: 60_000 });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer('otlp-span-processor-test');
  const root = tracer.startSpan('root');
  const rootContext = trace.setSpan(context.active(), root);
  const children = Array.from({ length: 10 }, (_, i) =>
    tracer.startSpan(
      `child-${i}`,
      {
        attributes: {
          'bgc.i': i,
          'bgc.even': i % 2 === 0,
          'bgc.name': `n${i}`,
          'bgc.ratio': i / 4,
          'bgc.tags': ['a', `t${i}`],
        },
      },
      rootContext,
    ),
  );
  for (const child of children) child.end();
  root.end();
  await processor.forceFlush();
  const { traceId } = root.spanContext();

  // spans reach Jaeger's store a moment after the post is answered
  const found = await eventually('all 11 spans in Jaeger', async () => {
    const res = await fetch(`${jaegerUrl}/api/traces/${traceId}`);
    const t = res.ok ? ((await res.json()) as { data: JaegerTrace[] }).data[0] : undefined;
    return t && t.spans.length >= 11 ? t : undefined;
  });
  expect(found.spans).toHaveLength(11);
  const byName = new Map(found.spans.map((s) => [s.operationName, s]));
  expect(found.processes[byName.get('root')?.processID ?? '']?.serviceName).toBe(serviceName);
  for (const [i, child] of children.entries()) {
    const s = byName.get(`child-${i}`);
    expect(s?.spanID).toBe(child.spanContext().spanId);
    expect(s?.references).toEqual([
      expect.objectContaining({ refType: 'CHILD_OF', spanID: root.spanContext().spanId }),
    ]);
    const tags = Object.fromEntries(s?.tags.map((t) => [t.key, t.value]) ?? []);
    expect(tags).toMatchObject({ 'bgc.i': i, 'bgc.even': i % 2 === 0, 'bgc.name': `n${i}`, 'bgc.ratio': i / 4 });
    expect(String(tags['bgc.tags'])).toContain(`t${i}`);
  }
  await provider.shutdown();
});
