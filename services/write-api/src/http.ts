/**
 * Routes as data: each declares its method, path, whether it needs a signed-in user, and the zod schemas of its
 * params and body. From one declaration come the Express route (validation, auth, the write transaction with
 * idempotency) and its OpenAPI entry, so the document cannot drift from what is served.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import type { NextFunction, Request, Response, Router } from 'express';
import { z } from 'zod';
import { ApiError, fromZodError } from '@bgc/http-api/api-error';
import { nameServerSpan } from '@bgc/http-api/server-span';
import type pg from 'pg';
import type { Answer, Tx, WriteOutcome } from './write-tx.ts';
import { currentTraceparent, IdempotencyKeyReused, requestHash, writeTx } from './write-tx.ts';
import type { Db } from './db.ts';
import type { BatchedStatement, BatchOptions } from './statement-batcher.ts';
import { StatementBatcher } from './statement-batcher.ts';
import type { WalPositionReader } from './wal-position.ts';
import type { CacheTarget, WriteThrough } from './write-through.ts';

extendZodWithOpenApi(z);

/** Settings the handlers need, from the service's config. */
export interface Settings {
  tokenTtlHours: number;
}

export interface RouteContext<P, B> {
  params: P;
  body: B;
  settings: Settings;
  forgetToken: (token: string) => void;
  /** The signed-in user (routes with `auth: true`). */
  userId: string;
  tx: Tx;
  req: Request;
  /** Writes this row to the Redis projections once the transaction has committed (`write-through.ts`). */
  writeThrough: (target: CacheTarget) => void;
}

export interface RouteDef<P extends z.ZodType, B extends z.ZodType> {
  method: 'post' | 'patch' | 'put' | 'delete';
  path: string;
  summary: string;
  auth: boolean;
  params?: P;
  body?: B;
  /** Status codes this route answers with besides the generic errors, for the document. */
  responses: Record<number, string>;
  handler: (ctx: RouteContext<z.output<P>, z.output<B>>) => Promise<Answer>;
  /**
   * The same write batched with concurrent requests into one statement, for the hottest routes
   * (`statement-batcher.ts`): used when the request has no Idempotency-Key; when nothing was written for the
   * request, `handler` runs in a transaction and says why.
   */
  batched?: {
    statement: BatchedStatement<pg.QueryResultRow>;
    /** this request's values, one per array parameter from `$2` on */
    values: (ctx: Pick<RouteContext<z.output<P>, z.output<B>>, 'params' | 'body' | 'userId'>) => unknown[];
    answer: (row: pg.QueryResultRow) => Answer;
  };
}

/** A route with its types erased, for lists of routes; `route()` checks each definition first. */
export type AnyRoute = RouteDef<z.ZodType, z.ZodType>;

/** Declares a route: params and body types flow from the schemas into the handler. */
export function route<P extends z.ZodType = z.ZodObject, B extends z.ZodType = z.ZodUndefined>(
  def: RouteDef<P, B>,
): AnyRoute {
  return def;
}

export interface Deps {
  prisma: Db;
  /** the pool under `prisma`, for batched writes */
  pool: pg.Pool;
  batching: Omit<BatchOptions, 'route'>;
  positions: WalPositionReader;
  settings: Settings;
  acquireTimeoutMs: number;
  authenticate: (req: Request) => Promise<string>;
  /** Forgets a cached token at once (sign-out). */
  forgetToken: (token: string) => void;
  /** absent when write-through is off */
  writeThrough: WriteThrough | undefined;
}

export const uuid = (name: string) => z.uuid({ error: `${name} must be a UUID` }).openapi({ format: 'uuid' });

const toOpenApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');

export function mount(router: Router, registry: OpenAPIRegistry, deps: Deps, route: AnyRoute) {
  registry.registerPath({
    method: route.method,
    path: toOpenApiPath(route.path),
    summary: route.summary,
    ...(route.auth ? { security: [{ bearer: [] }] } : {}),
    request: {
      ...(route.params ? { params: route.params as z.ZodObject } : {}),
      ...(route.body ? { body: { content: { 'application/json': { schema: route.body } } } } : {}),
      headers: z.object({
        'idempotency-key': z.string().max(255).optional().openapi({ description: 'replays the first answer' }),
      }),
    },
    responses: Object.fromEntries<{ description: string }>([
      ...Object.entries(route.responses).map(([status, description]): [string, { description: string }] => [
        status,
        { description },
      ]),
      ['400', { description: 'invalid request: `error.code` and `error.field` say what' }],
      ...(route.auth ? [['401', { description: 'missing, unknown or expired bearer token' }] as const] : []),
      ['503', { description: 'busy or a conflict with a concurrent change: retry' }],
    ]),
  });

  const batching = route.batched && {
    ...route.batched,
    batcher: new StatementBatcher(deps.pool, route.batched.statement, { ...deps.batching, route: route.path }),
  };
  router[route.method](route.path, (req: Request, res: Response, next: NextFunction) => {
    nameServerSpan(req.method, route.path);
    void (async () => {
      const params = route.params ? route.params.safeParse(req.params) : { success: true as const, data: {} };
      if (!params.success) throw fromZodError(params.error, 'params', 'field');
      const rawBody: unknown = req.body ?? {};
      const body = route.body ? route.body.safeParse(rawBody) : { success: true as const, data: undefined };
      if (!body.success) throw fromZodError(body.error, 'body', 'field');
      const userId = route.auth ? await deps.authenticate(req) : '';
      const key = req.get('idempotency-key');
      if (key !== undefined && (key.length === 0 || key.length > 255)) {
        throw new ApiError(400, 'INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1 to 255 characters', {
          field: 'Idempotency-Key',
        });
      }
      const idempotency =
        key && route.auth && route.method === 'post'
          ? { userId, key, requestHash: requestHash(req.method, req.originalUrl, rawBody) }
          : undefined;
      const batched = idempotency ? undefined : batching;
      const sent = await batched?.batcher.submit(
        batched.values({ params: params.data, body: body.data, userId }),
        currentTraceparent(),
      );
      const row = sent?.row;
      const cacheTargets: CacheTarget[] = [];
      const outcome: WriteOutcome =
        row && batched
          ? { ...batched.answer(row), replayed: false, lsn: sent.lsn }
          : await writeTx(
              deps.prisma,
              {
                idempotency,
                acquireTimeoutMs: deps.acquireTimeoutMs,
                positions: deps.positions,
                needsLsn: () => deps.writeThrough !== undefined && cacheTargets.length > 0,
              },
              (tx) =>
                route.handler({
                  params: params.data,
                  body: body.data,
                  settings: deps.settings,
                  forgetToken: deps.forgetToken,
                  userId,
                  tx,
                  req,
                  writeThrough: (target) => cacheTargets.push(target),
                }),
            ).catch((err: unknown) => {
              if (err instanceof IdempotencyKeyReused) {
                throw new ApiError(
                  422,
                  'IDEMPOTENCY_KEY_REUSED',
                  'this Idempotency-Key was used for a different request',
                  {
                    field: 'Idempotency-Key',
                  },
                );
              }
              throw err;
            });
      if (deps.writeThrough && outcome.beforeCommitLsn) {
        await deps.writeThrough.apply(cacheTargets, outcome.beforeCommitLsn);
      }
      res.setHeader('Commit-LSN', outcome.lsn);
      if (outcome.replayed) res.setHeader('Idempotent-Replayed', 'true');
      if (outcome.status === 204) res.status(204).end();
      else res.status(outcome.status).json(outcome.body);
    })().catch(next);
  });
}
