/** The read API's translation of failures into what a client sees (`@bgc/http-api/api-error`). */
import { ApiError } from '@bgc/http-api/api-error';

/** What a failure that is not an ApiError becomes: pool exhaustion and timeouts are 503 (retry), the rest 500. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const pgCode = (err as { code?: unknown }).code;
  if (pgCode === '57014' || pgCode === '40001') {
    return new ApiError(503, 'BUSY', 'the database is busy; retry the request');
  }
  const message = err instanceof Error ? err.message : '';
  if (/timeout exceeded when trying to connect/i.test(message)) {
    return new ApiError(503, 'POOL_EXHAUSTED', 'no database connection became free in time; retry');
  }
  return new ApiError(500, 'INTERNAL', 'something went wrong on our side');
}
