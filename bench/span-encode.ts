/**
 * Encoding ended spans for OTLP, side by side in one process: the OpenTelemetry transformer's
 * `ProtobufTraceSerializer` against `@bgc/telemetry`'s `OtlpTraceEncoder`, on chunks shaped as the write API's
 * span processor encodes them (its server span of a message send, with the attributes it sets, and now and then
 * the pg client span under it). The two alternate chunk by chunk, so a noisy moment costs both alike; each chunk's
 * time is taken with `performance.now()`, after a warm-up of the same length. Both encodings of one chunk are
 * checked equal first.
 *
 *   node bench/span-encode.ts [--chunk 32] [--chunks 5000]
 */
import { context, SpanKind, trace } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { OtlpTraceEncoder } from '@bgc/telemetry/otlp-trace-encoder';
import { benchArgs } from './src/cli-args.ts';
import { summarize, table } from './src/stats.ts';

const { values: args } = benchArgs({
  options: { chunk: { type: 'string', default: '32' }, chunks: { type: 'string', default: '5000' } },
});
const chunkSpans = Number(args.chunk);
const chunks = Number(args.chunks);

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({
  resource: resourceFromAttributes({
    'service.name': 'write-api',
    'telemetry.sdk.language': 'nodejs',
    'telemetry.sdk.name': 'opentelemetry',
    'telemetry.sdk.version': '2.0.0',
    'host.name': 'bgc-host',
    'process.pid': process.pid,
    'process.runtime.name': 'nodejs',
    'process.runtime.version': process.versions.node,
  }),
  spanProcessors: [new SimpleSpanProcessor({ exporter })],
});
const http = provider.getTracer('@bgc/http-api');
const pg = provider.getTracer('@opentelemetry/instrumentation-pg', '0.77.0');
for (let i = 0; exporter.getFinishedSpans().length < chunkSpans; i++) {
  const server = http.startSpan('POST /v1/rooms/:roomId/messages', { kind: SpanKind.SERVER });
  server.setAttributes({
    'http.request.method': 'POST',
    'url.path': `/v1/rooms/${crypto.randomUUID()}/messages`,
    'url.scheme': 'http',
    'client.address': '127.0.0.1',
    'user_agent.original': 'oha/1.4.6',
    'http.route': '/v1/rooms/:roomId/messages',
    'bgc.batch.size': 1 + (i % 17),
    'http.response.status_code': 201,
  });
  if (i % 10 === 0) {
    const query = pg.startSpan(
      'pg.query:INSERT /v1/rooms/:roomId/messages',
      { kind: SpanKind.CLIENT },
      trace.setSpan(context.active(), server),
    );
    query.setAttributes({
      'db.system': 'postgresql',
      'db.statement': 'SELECT id, created_at FROM send_room_messages($1::text[], $2::uuid[])',
    });
    query.end();
  }
  server.end();
}
const spans: ReadableSpan[] = exporter.getFinishedSpans().slice(0, chunkSpans);

const encoder = new OtlpTraceEncoder();
const library = Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) ?? []);
if (!library.equals(encoder.encode(spans))) throw new Error('the two encoders disagree on the same spans');

const candidates: [string, () => unknown][] = [
  ['OpenTelemetry ProtobufTraceSerializer', () => ProtobufTraceSerializer.serializeRequest(spans)],
  ['@bgc/telemetry OtlpTraceEncoder', () => encoder.encode(spans)],
];
const samples = candidates.map((): number[] => []);
for (let round = 0; round < 2 * chunks; round++) {
  candidates.forEach(([, encode], i) => {
    const t0 = performance.now();
    encode();
    if (round >= chunks) samples[i]?.push(performance.now() - t0); // the first half warms up
  });
}
console.log(`\n${chunks} chunks of ${chunkSpans} spans each (${library.length} bytes a chunk), alternating:\n`);
console.log(
  table(
    ['encoder', 'median ms/chunk', 'p99 ms/chunk', 'median µs/span'],
    candidates.map(([name], i) => {
      const s = summarize(samples[i] ?? []);
      return [name, s.median.toFixed(3), s.p99.toFixed(3), ((s.median * 1000) / chunkSpans).toFixed(1)];
    }),
  ),
);
