import http from 'node:http';
import crypto from 'node:crypto';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { TracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import express from 'express';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { nameServerSpan, serverSpans } from './server-span.ts';
import type { Listening } from './listening.ts';
import { listening } from './listening.ts';

const exporter = new InMemorySpanExporter();
let served: Listening;
let base = '';
/** the trace and span ids active when each route's handler ran, by the request's `x-probe` header */
const seenInHandler = new Map<string, { traceId?: string; spanId?: string }>();

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }));

  const app = express();
  app.use(serverSpans({ ignore: ['/healthz'] }));
  app.use(express.json());
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.post('/v1/things/:id', (req, res) => {
    nameServerSpan(req.method, '/v1/things/:id');
    const span = trace.getActiveSpan()?.spanContext();
    seenInHandler.set(String(req.headers['x-probe']), { traceId: span?.traceId, spanId: span?.spanId });
    const status = (req.body as { status?: number }).status ?? 201;
    if (status === 0) return; // never answers: the client gives up
    res.status(status).json({ id: req.params.id });
  });
  served = await listening(app);
  base = served.base;
});

afterAll(async () => {
  await served[Symbol.asyncDispose]();
  trace.disable();
  context.disable();
  propagation.disable();
});

/** Sends a body in two chunks some milliseconds apart, so the parser resumes the chain from a later stream event. */
function post(path: string, body: unknown, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = http.request(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.write(text.slice(0, 5));
    setTimeout(() => req.end(text.slice(5)), 30);
  });
}

async function spanOf(probe: string): Promise<ReadableSpan> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const span = exporter.getFinishedSpans().find((s) => s.attributes['url.path']?.toString().endsWith(`/${probe}`));
    if (span) return span;
    if (Date.now() > deadline) throw new Error(`no span for ${probe}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('server spans', () => {
  test('a request continues the caller’s trace, runs in its span after the body arrives, and is named by its route', async () => {
    const traceId = crypto.randomBytes(16).toString('hex');
    const parentId = crypto.randomBytes(8).toString('hex');
    const status = await post(
      '/v1/things/a1',
      { status: 201 },
      { traceparent: `00-${traceId}-${parentId}-01`, 'x-probe': 'a1' },
    );
    expect(status).toBe(201);
    const span = await spanOf('a1');
    expect(span.spanContext().traceId).toBe(traceId);
    expect(span.parentSpanContext?.spanId).toBe(parentId);
    expect(span.name).toBe('POST /v1/things/:id');
    expect(span.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/v1/things/:id',
      'http.response.status_code': 201,
      'url.path': '/v1/things/a1',
      'client.address': '127.0.0.1',
    });
    expect(span.status.code).toBe(0); // unset
    // the handler ran in this span although the parser resumed it from a later chunk's event
    expect(seenInHandler.get('a1')).toEqual({ traceId, spanId: span.spanContext().spanId });
  });

  test('a request without a traceparent starts a trace; a 4xx is not an error of the server, a 5xx is', async () => {
    expect(await post('/v1/things/b1', { status: 422 }, { 'x-probe': 'b1' })).toBe(422);
    expect(await post('/v1/things/b2', { status: 503 }, { 'x-probe': 'b2' })).toBe(503);
    const [clientError, serverError] = [await spanOf('b1'), await spanOf('b2')];
    expect(clientError.parentSpanContext).toBeUndefined();
    expect(clientError.status.code).toBe(0);
    expect(serverError.status.code).toBe(2); // error
    expect(serverError.attributes['error.type']).toBe('503');
    expect(clientError.spanContext().traceId).not.toBe(serverError.spanContext().traceId);
  });

  test('an answer never sent ends the span as an error when the client goes away; ignored paths have no span', async () => {
    const aborted = new AbortController();
    const gone = fetch(`${base}/v1/things/c1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-probe': 'c1' },
      body: JSON.stringify({ status: 0 }),
      signal: aborted.signal,
    }).catch((err: unknown) => err);
    await new Promise((r) => setTimeout(r, 100));
    aborted.abort();
    await gone;
    const span = await spanOf('c1');
    expect(span.status.code).toBe(2);
    expect(span.attributes['http.response.status_code']).toBeUndefined();

    const before = exporter.getFinishedSpans().length;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    expect(exporter.getFinishedSpans().length).toBe(before);
  });
});
