/**
 * Routes as data: each declares its method, path, and the zod schemas of its params and query string (strict:
 * an unknown parameter is a 400). From one declaration come the Express route (validation, auth, the request's
 * read context, the `Cache` and `Read-From` answer headers) and its OpenAPI entry, so the document cannot drift
 * from what is served.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import type { NextFunction, Request, Response, Router } from 'express';
import { z } from 'zod';
import { lsnToBigInt } from '@bgc/events/envelope';
import type { Services } from './services.ts';
import { ApiError, fromZodError } from '@bgc/http-api/api-error';
import { nameServerSpan } from '@bgc/http-api/server-span';
import { ReadContext } from './read-context.ts';

extendZodWithOpenApi(z);

export interface RouteContext<P, Q> {
  params: P;
  query: Q;
  read: ReadContext;
  services: Services;
}

export interface RouteDef<P extends z.ZodType, Q extends z.ZodType> {
  method: 'get' | 'put';
  path: string;
  summary: string;
  params?: P;
  query?: Q;
  /** Status codes this route answers with besides the generic errors, for the document. */
  responses: Record<number, string>;
  handler: (ctx: RouteContext<z.output<P>, z.output<Q>>) => Promise<{ status?: number; body: unknown }>;
}

export type AnyRoute = RouteDef<z.ZodType, z.ZodType>;

export function route<P extends z.ZodType = z.ZodObject, Q extends z.ZodType = z.ZodObject>(
  def: RouteDef<P, Q>,
): AnyRoute {
  return def;
}

/** A route without query parameters refuses any (built once: a zod schema is costly to build per request). */
const NO_QUERY = z.strictObject({});

export const uuid = (name: string) =>
  z
    .uuid({ error: `${name} must be a UUID` })
    .transform((s) => s.toLowerCase())
    .openapi({ type: 'string', format: 'uuid' });

/** `?limit=` (1–200, default 50) and `?cursor=` (the `next` of the page before). */
export const pageQuery = {
  limit: z.coerce
    .number({ error: 'limit must be a whole number from 1 to 200' })
    .int({ error: 'limit must be a whole number from 1 to 200' })
    .min(1, { error: 'limit must be a whole number from 1 to 200' })
    .max(200, { error: 'limit must be a whole number from 1 to 200' })
    .default(50)
    .openapi({ type: 'integer', minimum: 1, maximum: 200, default: 50 }),
  cursor: z.string().min(1).max(1024).optional().openapi({ description: 'the `next` of the previous page' }),
};

const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i;

function commitLsn(req: Request): bigint | undefined {
  const header = req.get('commit-lsn');
  if (header === undefined) return undefined;
  if (!LSN.test(header)) {
    throw new ApiError(400, 'INVALID_COMMIT_LSN', 'Commit-LSN must be a WAL position such as 16/B374D848', {
      field: 'Commit-LSN',
    });
  }
  return lsnToBigInt(header);
}

const toOpenApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');

export function mount(router: Router, registry: OpenAPIRegistry, services: Services, route: AnyRoute) {
  registry.registerPath({
    method: route.method,
    path: toOpenApiPath(route.path),
    summary: route.summary,
    security: [{ bearer: [] }],
    request: {
      ...(route.params ? { params: route.params as z.ZodObject } : {}),
      ...(route.query ? { query: route.query as z.ZodObject } : {}),
      headers: z.object({
        'commit-lsn': z.string().optional().openapi({
          description:
            'the Commit-LSN of your write: the answer reflects it (read from the primary if the replica lags)',
        }),
      }),
    },
    responses: Object.fromEntries<{ description: string }>([
      ...Object.entries(route.responses).map(([status, description]): [string, { description: string }] => [
        status,
        { description },
      ]),
      ['400', { description: 'invalid request: `error.code` and `error.field` say what' }],
      ['401', { description: 'missing, unknown or expired bearer token' }],
      ['503', { description: 'busy: retry' }],
    ]),
  });

  router[route.method](route.path, (req: Request, res: Response, next: NextFunction) => {
    nameServerSpan(req.method, route.path);
    void (async () => {
      const params = route.params ? route.params.safeParse(req.params) : { success: true as const, data: {} };
      if (!params.success) throw fromZodError(params.error, 'params', 'parameter');
      const query = (route.query ?? NO_QUERY).safeParse(req.query);
      if (!query.success) throw fromZodError(query.error, 'query', 'parameter');
      const minLsn = commitLsn(req);
      const viewerId = await services.authenticate(req.get('authorization'));
      const read = new ReadContext(services.routing, viewerId, minLsn, services.flags.get('db.reads') === 'primary');
      const answer = await route.handler({ params: params.data, query: query.data, read, services });
      if (read.cache) res.setHeader('Cache', read.cache);
      if (read.target) res.setHeader('Read-From', read.target);
      if (answer.status === 204) res.status(204).end();
      else res.status(answer.status ?? 200).json(answer.body);
    })().catch(next);
  });
}
