/**
 * Every error a client sees, in the write API's shape: an HTTP status, a stable machine-readable code, the offending
 * field when there is one, and a message for people.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    opts: { field?: string; details?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = opts.field;
    this.details = opts.details;
  }

  toJSON() {
    return { error: { code: this.code, message: this.message, field: this.field, details: this.details } };
  }
}

export const notFound = (what: string, field?: string) =>
  new ApiError(404, 'NOT_FOUND', `${what} does not exist`, field ? { field } : {});
export const forbidden = (code: string, message: string) => new ApiError(403, code, message);

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
