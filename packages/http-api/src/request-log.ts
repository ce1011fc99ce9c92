/**
 * Every request into the latency histogram, by method, route and status; into the log only what someone will look
 * for: refusals, failures and slow answers (a line per request was a tenth of the write API's CPU at 1,500
 * requests/s). Fast successes are logged at debug. Slow successes are logged up to `slowLinesPerSecond`, and the
 * rest are counted into one line a second: when a service is overloaded, every answer is slow, and a line for each
 * would make it slower still (the histogram has them all).
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
  /** slow successes logged per second at most (default 10); refusals and failures are always logged */
  slowLinesPerSecond?: number;
}): RequestHandler {
  const slowLimit = opts.slowLinesPerSecond ?? 10;
  let second = 0;
  let slowLogged = 0;
  let slowSkipped = 0;
  /** whether this slow success gets its line; a new second first reports how many the last one skipped */
  const logSlow = (now: number): boolean => {
    const current = Math.floor(now / 1000);
    if (current !== second) {
      if (slowSkipped > 0) {
        opts.logger.info({ skipped: slowSkipped, limit: slowLimit }, 'slow requests not logged one by one');
      }
      second = current;
      slowLogged = 0;
      slowSkipped = 0;
    }
    if (slowLogged < slowLimit) {
      slowLogged += 1;
      return true;
    }
    slowSkipped += 1;
    return false;
  };
  return (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      opts.requests.observe({ method: req.method, route, status: res.statusCode }, seconds);
      if (opts.quiet?.includes(route)) return;
      const ms = Math.round(seconds * 1000);
      const failed = res.statusCode >= 400;
      const level = failed || ms >= opts.slowRequestMs ? 'info' : 'debug';
      if (!opts.logger.isLevelEnabled(level)) return;
      if (level === 'info' && !failed && !logSlow(Date.now())) return;
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
