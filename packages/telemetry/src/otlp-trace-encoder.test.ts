import { context, createTraceState, SpanKind, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { seededRandom } from '@bgc/testkit/seeded-random';
import { describe, expect, test } from 'vitest';
import { OtlpTraceEncoder } from './otlp-trace-encoder.ts';

/** What the OpenTelemetry transformer writes for the same spans: the reference. */
const reference = (spans: ReadableSpan[]) =>
  Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) ?? []).toString('hex');
const encoded = (encoder: OtlpTraceEncoder, spans: ReadableSpan[]) =>
  Buffer.from(encoder.encode(spans)).toString('hex');

function provider(serviceName: string) {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName, 'host.name': 'bgc-1', 'process.pid': 4242 }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  return { tracerProvider, spans: () => exporter.getFinishedSpans() };
}

describe('OtlpTraceEncoder', () => {
  test('spans from the SDK encode byte for byte as the transformer encodes them', () => {
    const a = provider('write-api');
    const b = provider('cdc');
    const http = a.tracerProvider.getTracer('@bgc/http-api', '1.2.3', {
      schemaUrl: 'https://opentelemetry.io/schemas/1.30.0',
    });
    const pg = a.tracerProvider.getTracer('@opentelemetry/instrumentation-pg');
    const remote = trace.setSpanContext(context.active(), {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
      traceState: createTraceState('vendor=a,other=b'),
    });
    const server = http.startSpan(
      'POST /v1/rooms/:roomId/messages',
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': 'POST',
          'url.path': '/v1/rooms/0e1…/messages',
          'user_agent.original': 'oha/1.4 ☕',
        },
      },
      remote,
    );
    server.setAttribute('http.response.status_code', 201);
    server.setAttribute('bgc.batch.size', 17);
    server.setAttribute('bgc.ratio', 0.25);
    server.setAttribute('bgc.negative', -3);
    server.setAttribute('bgc.large', 2 ** 40 + 7);
    server.setAttribute('bgc.flags', [true, false]);
    server.setAttribute('bgc.names', ['ann', 'bøb', '']);
    server.setAttribute('bgc.empty', '');
    server.setAttribute('db.statement', `SELECT ${'x, '.repeat(200)}1`); // a body over 127 bytes: a longer length
    server.addEvent('retry', { attempt: 2 }, [1_764_370_000, 123_456_789]);
    server.addEvent('bare');
    server.addLink({
      context: { traceId: 'ABCDEF0123456789abcdef0123456789', spanId: '0123456789ABCDEF', traceFlags: 0 },
    });
    server.addLink({
      context: {
        traceId: '1'.repeat(32),
        spanId: '2'.repeat(16),
        traceFlags: 1,
        isRemote: true,
        traceState: createTraceState('k=v'),
      },
      attributes: { 'bgc.why': 'leader' },
    });
    const child = pg.startSpan('pg.query:INSERT', { kind: SpanKind.CLIENT }, trace.setSpan(context.active(), server));
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'duplicate key – 23505' });
    child.end();
    server.setStatus({ code: SpanStatusCode.OK });
    server.end();
    b.tracerProvider.getTracer('@bgc/cdc').startSpan('wal → kafka', { kind: SpanKind.PRODUCER }).end();
    a.tracerProvider.getTracer('@bgc/http-api', '1.2.3').startSpan('internal').end();

    // interleaved resources and scopes: grouped in order of first appearance
    const [c1, s1, i1] = a.spans();
    const spans = [c1, b.spans()[0], s1, i1] as ReadableSpan[];
    const encoder = new OtlpTraceEncoder();
    expect(encoded(encoder, spans)).toBe(reference(spans));
    // again, with the resource and scopes from its cache, and one span alone
    expect(encoded(encoder, spans)).toBe(reference(spans));
    expect(encoded(encoder, [s1 as ReadableSpan])).toBe(reference([s1 as ReadableSpan]));
  });

  test('random attribute values of every kind OTLP has, and ids of odd form, encode as the transformer encodes them', () => {
    const { tracerProvider, spans } = provider('random');
    tracerProvider.getTracer('t').startSpan('template').end();
    const template = spans()[0] as ReadableSpan;
    const encoder = new OtlpTraceEncoder(); // one encoder for every case: its buffer and caches are reused
    for (let seed = 1; seed <= 300; seed++) {
      const r = seededRandom(seed);
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)] as T;
      const str = () => {
        const alphabet = ['a', 'Z', '0', ' ', '/', 'é', 'ß', '€', '☕', '😀', '\u0000', '\ud800'];
        return Array.from({ length: Math.floor(r() ** 3 * 300) }, () => pick(alphabet)).join('');
      };
      const num = () =>
        pick([
          0,
          1,
          -1,
          127,
          128,
          2 ** 31,
          2 ** 32 - 1,
          2 ** 32,
          -(2 ** 40) - 3,
          2 ** 53 + 2,
          1e300,
          0.5,
          -0.0,
          NaN,
          Infinity,
          -Infinity,
          Math.floor(r() * 1e12) - 5e11,
        ]);
      const value = (depth: number): unknown => {
        switch (Math.floor(r() * (depth > 0 ? 8 : 5))) {
          case 0:
            return str();
          case 1:
            return num();
          case 2:
            return r() < 0.5;
          case 3:
            return pick([null, undefined]);
          case 4:
            return new Uint8Array(Array.from({ length: Math.floor(r() * 200) }, () => Math.floor(r() * 256)));
          case 5:
            return Array.from({ length: Math.floor(r() * 4) }, () => value(depth - 1));
          default:
            return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, () => [str(), value(depth - 1)]));
        }
      };
      const attributes = () =>
        Object.fromEntries(Array.from({ length: Math.floor(r() * 12) }, () => [str(), value(2)]));
      const id = (digits: number) =>
        r() < 0.9
          ? Array.from({ length: digits }, () => pick([...'0123456789abcdefABCDEF'])).join('')
          : str().slice(0, digits);
      const ctx = { traceId: id(32), spanId: id(16), traceFlags: pick([0, 1, 3, 0x1ff]) };
      const span = {
        ...template,
        name: str(),
        kind: pick([0, 1, 2, 3, 4]),
        spanContext: () => ctx,
        parentSpanContext:
          r() < 0.5 ? { traceId: id(32), spanId: id(16), traceFlags: 1, isRemote: r() < 0.5 } : undefined,
        startTime: [Math.floor(r() * 2 ** 32), Math.floor(r() * 1e9)],
        endTime: [Math.floor(r() * 2 ** 32), 999_999_999],
        attributes: attributes(),
        droppedAttributesCount: Math.floor(r() * 300),
        events: Array.from({ length: Math.floor(r() * 3) }, () => ({
          name: str(),
          time: [1, 2],
          attributes: attributes(),
        })),
        droppedEventsCount: 0,
        links: Array.from({ length: Math.floor(r() * 3) }, () => ({
          context: { traceId: id(32), spanId: id(16), traceFlags: 1 },
          attributes: attributes(),
          droppedAttributesCount: 1,
        })),
        droppedLinksCount: Math.floor(r() * 2),
        status: { code: pick([0, 1, 2]), message: r() < 0.5 ? str() : undefined },
      } as unknown as ReadableSpan;
      const batch = Array.from({ length: 1 + Math.floor(r() * 40) }, () => span);
      expect(encoded(encoder, batch), `seed ${seed}`).toBe(reference(batch));
    }
  });
});
