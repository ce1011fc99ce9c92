/**
 * Every request into the latency histogram, by method, route and status; into the log only what someone will look
 * for: refusals, failures and slow answers (a line per request was a tenth of the write API's CPU at 1,500
 * requests/s). Fast successes are logged at debug.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Logger } from '@bgc/telemetry/logger';

export function requestLog(opts: {
  requests: Histogram<'method' | 'route' | 'status'>;
  logger: Logger;
  slowRequestMs: number;
  /** routes measured but never logged (health checks, scrapes) */
  quiet?: readonly string[];
  /** more fields for the log line, from the answer */
  fields?: (res: Response) => Record<string, unknown>;
}): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      opts.requests.observe({ method: req.method, route, status: res.statusCode }, seconds);
      if (opts.quiet?.includes(route)) return;
      const ms = Math.round(seconds * 1000);
      const level = res.statusCode >= 400 || ms >= opts.slowRequestMs ? 'info' : 'debug';
      if (!opts.logger.isLevelEnabled(level)) return;
      opts.logger[level]({ method: req.method, route, status: res.statusCode, ms, ...opts.fields?.(res) }, 'request');
    });
    next();
  };
}

/** The two metrics every HTTP API has: latency per route, method and status, and error answers by code. */
export function createHttpMetrics(registry: Registry, opts: { buckets: number[] }) {
  const requests = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP requests by route, method and status, with their latency',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: opts.buckets,
    registers: [registry],
  });
  const errors = new Counter({
    name: 'http_errors_total',
    help: 'Error answers by machine-readable code',
    labelNames: ['code', 'status'] as const,
    registers: [registry],
  });
  return { requests, errors };
}
