/** The Express application: auth and the routes, the OpenAPI document, errors, metrics, request logs. */
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import type { Registry } from 'prom-client';
import type { Logger } from '@bgc/telemetry/logger';
import { ApiError } from '@bgc/http-api/api-error';
import { toApiError } from './errors.ts';
import { requestLog } from '@bgc/http-api/request-log';
import { serverSpans } from '@bgc/http-api/server-span';
import { mount } from './http.ts';
import type { Metrics } from './metrics.ts';
import { chatRoutes } from './routes/chat.ts';
import { feedRoutes } from './routes/feed.ts';
import { forumRoutes } from './routes/forum.ts';
import { presenceRoutes } from './routes/presence.ts';
import { searchRoutes } from './routes/search.ts';
import { userRoutes } from './routes/users.ts';
import type { Services } from './services.ts';

export const allRoutes = [
  ...userRoutes,
  ...chatRoutes,
  ...forumRoutes,
  ...searchRoutes,
  ...presenceRoutes,
  ...feedRoutes,
];

export function createApp(deps: {
  services: Services;
  registry: Registry;
  metrics: Metrics;
  logger: Logger;
  /** successful requests faster than this are logged at debug only */
  slowRequestMs: number;
}) {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', false);

  // first: everything after it, the request log's line included, runs in the request's span
  app.use(serverSpans({ ignore: ['/metrics', '/healthz'] }));
  app.use(
    requestLog({
      requests: deps.metrics.requests,
      logger: deps.logger,
      slowRequestMs: deps.slowRequestMs,
      quiet: ['/metrics', '/healthz'],
      fields: (res) => ({ cache: res.getHeader('cache'), db: res.getHeader('read-from') }),
    }),
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
  for (const route of allRoutes) mount(router, registry, deps.services, route);
  const document = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'BGC Replica read API', version: '1' },
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(document);
  });

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
