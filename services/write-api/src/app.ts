/** The Express application: parsing and its limits, auth, the routes, the OpenAPI document, errors, metrics. */
import type { IncomingMessage } from 'node:http';
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { Logger } from '@bgc/telemetry/logger';
import { authenticator } from './auth.ts';
import type { Db } from './db.ts';
import { ApiError } from '@bgc/http-api/api-error';
import { fromDatabaseError } from './errors.ts';
import { requestLog } from '@bgc/http-api/request-log';
import { serverSpans } from '@bgc/http-api/server-span';
import type { Settings } from './http.ts';
import { mount } from './http.ts';
import type { Metrics } from './metrics.ts';
import { accountRoutes } from './routes/accounts.ts';
import { chatRoutes } from './routes/chat.ts';
import { forumRoutes } from './routes/forum.ts';
import { relationshipRoutes } from './routes/relationships.ts';
import { statusRoutes } from './routes/status.ts';
import { WalPositionReader } from './wal-position.ts';
import type { WriteThrough } from './write-through.ts';

export const allRoutes = [...accountRoutes, ...relationshipRoutes, ...chatRoutes, ...statusRoutes, ...forumRoutes];

export interface AppDeps {
  prisma: Db;
  /** the pool under `prisma` */
  pool: pg.Pool;
  registry: Registry;
  metrics: Metrics;
  logger: Logger;
  /** absent when write-through is off */
  writeThrough: WriteThrough | undefined;
  settings: Settings & {
    slowRequestMs: number;
    bodyLimitBytes: number;
    acquireTimeoutMs: number;
    batchMax: number;
    batchInFlight: number;
    batchIntervalMs: number;
  };
}

export function createApp(deps: AppDeps) {
  const app = express();
  app.disable('x-powered-by');
  // answers to writes are not cached or revalidated: hashing every body for an ETag is wasted work
  app.set('etag', false);
  app.set('trust proxy', false);

  // first: everything after it, the request log's line included, runs in the request's span
  app.use(serverSpans({ ignore: ['/metrics', '/healthz'] }));
  app.use(
    requestLog({ requests: deps.metrics.requests, logger: deps.logger, slowRequestMs: deps.settings.slowRequestMs }),
  );

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/metrics', (_req, res, next) => {
    deps.registry
      .metrics()
      .then((text) => res.type(deps.registry.contentType).send(text))
      .catch(next);
  });

  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  const router = express.Router();
  const auth = authenticator(deps.pool, { cacheSeconds: 10, cacheEntries: 100_000 });
  const routeDeps = {
    prisma: deps.prisma,
    pool: deps.pool,
    batching: {
      maxBatch: deps.settings.batchMax,
      maxInFlight: deps.settings.batchInFlight,
      intervalMs: deps.settings.batchIntervalMs,
      sizes: deps.metrics.batchSizes,
    },
    positions: new WalPositionReader(deps.pool),
    settings: deps.settings,
    acquireTimeoutMs: deps.settings.acquireTimeoutMs,
    authenticate: auth.authenticate,
    forgetToken: auth.forget,
    writeThrough: deps.writeThrough,
  };
  for (const route of allRoutes) mount(router, registry, routeDeps, route);
  const document = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'BGC Replica write API', version: '1' },
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(document);
  });

  app.use((req: Request, _res: Response, next: NextFunction) => {
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (hasBody && !isJson(req)) {
      next(new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json', { field: 'Content-Type' }));
      return;
    }
    next();
  });
  app.use(express.json({ limit: deps.settings.bodyLimitBytes, strict: true, type: isJson }));
  app.use(router);
  app.use((_req: Request, _res: Response, next: NextFunction) => {
    next(new ApiError(404, 'NO_SUCH_ROUTE', 'no such route; see /openapi.json'));
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const apiError = toApiError(err);
    if (apiError.status >= 500) deps.logger.error({ err, path: req.path }, 'request failed');
    deps.metrics.errors.inc({ code: apiError.code, status: apiError.status });
    res.status(apiError.status).json(apiError.toJSON());
  });
  return app;
}

// `application/json`, with parameters or without, as `req.is('application/json')` says; type-is parses the header
// into an object for every call, and was a thirtieth of the write API's CPU per send, called twice per request
const JSON_CONTENT_TYPE = /^application\/json[\t ]*(?:;|$)/i;
const isJson = (req: IncomingMessage) => JSON_CONTENT_TYPE.test(req.headers['content-type'] ?? '');

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const parserError = err as { type?: string; status?: number };
  if (parserError.type === 'entity.too.large') {
    return new ApiError(413, 'PAYLOAD_TOO_LARGE', 'the request body is too large');
  }
  if (parserError.type === 'entity.parse.failed')
    return new ApiError(400, 'INVALID_JSON', 'the body is not valid JSON');
  const fromDb = fromDatabaseError(err);
  if (fromDb) return fromDb;
  const message = err instanceof Error ? err.message : '';
  if (/timeout exceeded when trying to connect|Unable to start a transaction in the given time/i.test(message)) {
    return new ApiError(503, 'POOL_EXHAUSTED', 'no database connection became free in time; retry');
  }
  return new ApiError(500, 'INTERNAL', 'something went wrong on our side');
}
