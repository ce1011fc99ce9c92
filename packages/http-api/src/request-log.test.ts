import express from 'express';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Logger } from '@bgc/telemetry/logger';
import { createHttpMetrics, requestLog } from './request-log.ts';
import type { Listening } from './listening.ts';
import { listening } from './listening.ts';

/** The lines the middleware logs, as pino would get them (level, fields, message). */
const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
const logger = {
  isLevelEnabled: (level: string) => level === 'info',
  info: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'info', fields, msg }),
  debug: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'debug', fields, msg }),
} as unknown as Logger;
const registry = new Registry();
const { requests } = createHttpMetrics(registry, { buckets: [0.1, 1] });
let served: Listening;
let base = '';

beforeAll(async () => {
  const app = express();
  // every success counts as slow (0 ms), at most 5 lines of them a second
  app.use(requestLog({ requests, logger, slowRequestMs: 0, slowLinesPerSecond: 5 }));
  app.get('/ok', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/refused', (_req, res) => {
    res.status(400).json({ error: 'no' });
  });
  served = await listening(app);
  base = served.base;
});

afterAll(async () => {
  await served[Symbol.asyncDispose]();
});

const get = async (path: string) => (await fetch(`${base}${path}`)).arrayBuffer();
const requestLines = () => lines.filter((l) => l.msg === 'request');
const skippedTotal = () =>
  lines
    .filter((l) => l.msg === 'slow requests not logged one by one')
    .reduce((n, l) => n + Number(l.fields.skipped), 0);

describe('request log', () => {
  test('slow successes: a few lines a second, the rest counted in one line; refusals always logged', async () => {
    const firstSecond = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 40; i++) await get('/ok');
    const seconds = Math.floor(Date.now() / 1000) - firstSecond + 1;
    const logged = requestLines().length;
    expect(logged).toBeGreaterThanOrEqual(5);
    expect(logged).toBeLessThanOrEqual(5 * seconds);
    // the next second's first slow request reports what the last ones skipped
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 10));
    await get('/ok');
    expect(requestLines().length - 1 + skippedTotal()).toBe(40);

    for (let i = 0; i < 20; i++) await get('/refused');
    expect(requestLines().filter((l) => l.fields.status === 400)).toHaveLength(20);
    // the histogram has every request
    const metric = await registry.getSingleMetricAsString('http_request_duration_seconds');
    const count = (status: number) =>
      Number(new RegExp(`_count\\{[^}]*status="${status}"[^}]*\\} (\\d+)`).exec(metric)?.[1] ?? NaN);
    expect(count(200)).toBe(41);
    expect(count(400)).toBe(20);
  });
});
