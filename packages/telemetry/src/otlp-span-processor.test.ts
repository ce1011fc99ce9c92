import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SamplingDecision, TracerProvider } from '@opentelemetry/sdk-trace';
import { describe, expect, test } from 'vitest';
import { eventually } from '@bgc/testkit/eventually';
import { OtlpSpanProcessor } from './otlp-span-processor.ts';
import { spansDropped, spansExported } from './span-export-metrics.ts';

async function counter(c: typeof spansExported | typeof spansDropped, labels: Record<string, string> = {}) {
  const { values } = await c.get();
  return values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k as never] === x))?.value ?? 0;
}

/** A collector that holds each request until `release()`, counting requests and body bytes. */
async function heldCollector() {
  const held: http.ServerResponse[] = [];
  let requests = 0;
  let bytes = 0;
  const server = http.createServer((req, res) => {
    requests++;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => held.push(res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    stats: () => ({ requests, bytes, held: held.length }),
    release() {
      for (const res of held.splice(0)) res.end();
    },
    async [Symbol.asyncDispose]() {
      this.release();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('OtlpSpanProcessor', () => {
  test('a collector that refuses connections costs its spans, counted as dropped, and never throws', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));

    const processor = new OtlpSpanProcessor({ url: `http://127.0.0.1:${port}/v1/traces`, chunkSpans: 4 });
    const provider = new TracerProvider({ spanProcessors: [processor] });
    const before = await counter(spansDropped, { reason: 'post_failed' });
    for (let i = 0; i < 10; i++) provider.getTracer('t').startSpan(`s${i}`).end();
    await processor.forceFlush();
    expect((await counter(spansDropped, { reason: 'post_failed' })) - before).toBe(10);
    await provider.shutdown();
  });

  test('one post at a time: spans that end while it hangs wait, up to maxPendingBytes, and every span is either exported or counted as dropped', async () => {
    await using collector = await heldCollector();
    const processor = new OtlpSpanProcessor({
      url: collector.url,
      chunkSpans: 1,
      intervalMs: 20,
      maxPendingBytes: 2_000,
    });
    const provider = new TracerProvider({ spanProcessors: [processor] });
    const tracer = provider.getTracer('t');
    const [exported0, behind0] = [
      await counter(spansExported),
      await counter(spansDropped, { reason: 'collector_behind' }),
    ];

    tracer.startSpan('first').end();
    await eventually('the first post', () => Promise.resolve(collector.stats().held === 1 || undefined), {
      intervalMs: 10,
    });
    // the first post hangs: later spans are encoded and kept, one chunk each, until their bytes pass the bound
    for (let i = 0; i < 100; i++) tracer.startSpan(`waiting-${i}`, { attributes: { i } }).end();
    await new Promise((r) => setTimeout(r, 100)); // several timer turns while the post hangs
    expect(collector.stats().requests).toBe(1);
    const behind = (await counter(spansDropped, { reason: 'collector_behind' })) - behind0;
    expect(behind).toBeGreaterThan(0);
    expect(behind).toBeLessThan(100);

    collector.release();
    await eventually(
      'the second post',
      () => Promise.resolve((collector.stats().held === 1 && collector.stats().requests === 2) || undefined),
      { intervalMs: 10 },
    );
    const secondBody = collector.stats().bytes;
    collector.release();
    await processor.forceFlush();
    const exported = (await counter(spansExported)) - exported0;
    expect(exported + behind).toBe(101);
    expect(exported).toBeGreaterThan(1);
    // what waited went out as one post, within the bound (plus the first post's body)
    expect(secondBody).toBeLessThan(2_000 + 1_000);
    await provider.shutdown();
  });

  test('spans recorded but not sampled (a sampler that says RECORD) are not sent', async () => {
    await using collector = await heldCollector();
    const processor = new OtlpSpanProcessor({ url: collector.url, chunkSpans: 1, intervalMs: 10 });
    const recordOnly = { shouldSample: () => ({ decision: SamplingDecision.RECORD }), toString: () => 'RecordOnly' };
    const provider = new TracerProvider({ sampler: recordOnly, spanProcessors: [processor] });
    for (let i = 0; i < 5; i++) {
      const span = provider.getTracer('t').startSpan(`s${i}`);
      expect(span.isRecording()).toBe(true);
      span.end();
    }
    await processor.forceFlush();
    await new Promise((r) => setTimeout(r, 50));
    expect(collector.stats().requests).toBe(0);
    await provider.shutdown();
  });
});
