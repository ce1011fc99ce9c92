/**
 * Sends ended spans to an OTLP/HTTP collector (Jaeger), encoding them a few at a time as they end.
 *
 * Why not the SDK's BatchSpanProcessor with its OTLP exporter: it keeps every span until its timer fires, then
 * encodes the whole batch at once. At 1,500 message sends/s that was about 360 spans every 200 ms, a 20–25 ms block
 * of the write API's event loop five times a second, and the largest part of its p99 (measured: p99 40–49 ms with
 * it, 32 ms with tracing off). Here each run of `chunkSpans` ended spans is encoded at once by
 * `otlp-trace-encoder.ts` (about 0.6 ms for 32 in the write API under load) and the spans are let go while still
 * young for the garbage collector; the timer only joins the encoded chunks and posts them. Protobuf allows the join:
 * encoded ExportTraceServiceRequests laid end to end decode as one request holding every chunk's `resource_spans`.
 *
 * At most one post is in flight; while the collector is slow or down, chunks wait up to `maxPendingBytes`, and spans
 * beyond that are dropped and counted (`otel_spans_dropped_total`) rather than held without bound.
 */
import http from 'node:http';
import https from 'node:https';
import { TraceFlags } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';
import { OtlpTraceEncoder } from './otlp-trace-encoder.ts';
import { spansDropped, spansExported } from './span-export-metrics.ts';

export interface OtlpSpanProcessorOptions {
  /** The collector's traces endpoint, e.g. http://127.0.0.1:4318/v1/traces. */
  url: string;
  /** Spans encoded together; the event loop is held for about 20 µs per span (the write API's spans, profiled). */
  chunkSpans?: number;
  /** Longest wait between a span's end and its post. */
  intervalMs?: number;
  /** Encoded spans kept while a post is slow or failing; beyond it new spans are dropped. */
  maxPendingBytes?: number;
  timeoutMs?: number;
}

export class OtlpSpanProcessor implements SpanProcessor {
  readonly #url: URL;
  readonly #chunkSpans: number;
  readonly #intervalMs: number;
  readonly #maxPendingBytes: number;
  readonly #timeoutMs: number;
  readonly #agent: http.Agent;
  readonly #encoder = new OtlpTraceEncoder();
  #ended: ReadableSpan[] = [];
  #chunks: Uint8Array[] = [];
  #pendingBytes = 0;
  #pendingSpans = 0;
  #timer: NodeJS.Timeout | undefined;
  /** The last post, so that posts go one at a time and a flush waits for what is ahead of it. */
  #lastPost: Promise<void> = Promise.resolve();
  #posting = false;
  #stopped = false;

  constructor(opts: OtlpSpanProcessorOptions) {
    this.#url = new URL(opts.url);
    this.#chunkSpans = opts.chunkSpans ?? 32;
    this.#intervalMs = opts.intervalMs ?? 200;
    this.#maxPendingBytes = opts.maxPendingBytes ?? 16 * 1024 * 1024;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    const Agent = this.#url.protocol === 'https:' ? https.Agent : http.Agent;
    this.#agent = new Agent({ keepAlive: true, maxSockets: 1 });
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if (this.#stopped || (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    this.#ended.push(span);
    if (this.#ended.length >= this.#chunkSpans) this.#encode();
    this.#timer ??= this.#arm();
  }

  forceFlush(): Promise<void> {
    return this.#flush();
  }

  async shutdown(): Promise<void> {
    if (this.#stopped) return;
    await this.#flush();
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#agent.destroy();
  }

  #arm(): NodeJS.Timeout {
    return setTimeout(() => {
      this.#timer = undefined;
      // a post still running takes the next chunks when the timer fires again, not a second connection
      if (this.#posting) this.#timer = this.#arm();
      else void this.#flush();
    }, this.#intervalMs).unref();
  }

  #encode(): void {
    const spans = this.#ended;
    if (spans.length === 0) return;
    this.#ended = [];
    let bytes: Uint8Array;
    try {
      bytes = this.#encoder.encode(spans);
    } catch {
      return spansDropped.inc({ reason: 'encode' }, spans.length);
    }
    if (this.#pendingBytes + bytes.length > this.#maxPendingBytes) {
      return spansDropped.inc({ reason: 'collector_behind' }, spans.length);
    }
    this.#chunks.push(bytes);
    this.#pendingBytes += bytes.length;
    this.#pendingSpans += spans.length;
  }

  #flush(): Promise<void> {
    this.#encode();
    const post = this.#lastPost.then(() => this.#postPending());
    this.#lastPost = post;
    return post;
  }

  async #postPending(): Promise<void> {
    if (this.#chunks.length === 0) return;
    const body = Buffer.concat(this.#chunks, this.#pendingBytes);
    const spans = this.#pendingSpans;
    this.#chunks = [];
    this.#pendingBytes = 0;
    this.#pendingSpans = 0;
    this.#posting = true;
    try {
      await this.#post(body);
      spansExported.inc(spans);
    } catch {
      // traces are best effort: a collector that is down costs its spans, never the request that made them
      spansDropped.inc({ reason: 'post_failed' }, spans);
    } finally {
      this.#posting = false;
    }
  }

  #post(body: Buffer): Promise<void> {
    const request = this.#url.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = request(
        this.#url,
        {
          method: 'POST',
          agent: this.#agent,
          timeout: this.#timeoutMs,
          headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve();
            else reject(new Error(`OTLP collector at ${this.#url.href} answered ${status}`));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () =>
        req.destroy(new Error(`OTLP collector at ${this.#url.href}: no answer in ${this.#timeoutMs} ms`)),
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}
