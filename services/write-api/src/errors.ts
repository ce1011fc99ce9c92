/**
 * The write API's errors (`@bgc/http-api/api-error`): database errors are translated here, in one place, so a
 * constraint violation is a 4xx with a field, never a 500.
 */
import { ApiError } from '@bgc/http-api/api-error';
export const conflict = (code: string, message: string, field?: string) =>
  new ApiError(409, code, message, field ? { field } : {});

/** Which request field each constraint guards, for the `field` of the answer. */
const CONSTRAINT_FIELDS: Record<string, { code: string; field: string; message: string }> = {
  users_email_lower_key: { code: 'EMAIL_TAKEN', field: 'email', message: 'an account with this email exists' },
  forum_categories_slug_key: { code: 'SLUG_TAKEN', field: 'slug', message: 'a category with this slug exists' },
  relationships_from_user_id_type_to_user_id_key: {
    code: 'ALREADY_EXISTS',
    field: 'userId',
    message: 'this relationship exists already',
  },
};

interface PgLikeError {
  code?: string;
  constraint?: string;
  column?: string;
  detail?: string;
}

/** The driver error inside whatever wraps it (Prisma's adapter keeps the pg error as `cause`). */
function pgErrorOf(err: unknown): PgLikeError | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const candidate = e as PgLikeError & {
      severity?: string;
      cause?: unknown;
      meta?: { driverAdapterError?: { cause?: unknown } };
    };
    // Prisma's errors (P2002…) keep the driver's SQLSTATE in meta.driverAdapterError.cause
    const adapterCause = candidate.meta?.driverAdapterError?.cause as
      { originalCode?: string; constraint?: { index?: string } } | undefined;
    if (adapterCause?.originalCode) {
      return { code: adapterCause.originalCode, constraint: adapterCause.constraint?.index };
    }
    // a pg error itself: it has a severity, which Prisma's own errors do not
    if (typeof candidate.code === 'string' && candidate.severity !== undefined) return candidate;
    e = candidate.cause;
  }
  return undefined;
}

export function fromDatabaseError(err: unknown): ApiError | undefined {
  const pgErr = pgErrorOf(err);
  if (!pgErr?.code) return undefined;
  const known = pgErr.constraint ? CONSTRAINT_FIELDS[pgErr.constraint] : undefined;
  switch (pgErr.code) {
    case '23505': // unique_violation
      return known
        ? new ApiError(409, known.code, known.message, { field: known.field })
        : new ApiError(409, 'CONFLICT', 'this exists already');
    case '23503': // foreign_key_violation: something the request names does not exist
      return new ApiError(404, 'REFERENCED_ROW_MISSING', 'something this request refers to does not exist', {
        field: pgErr.constraint?.match(/_(\w+?)_fkey$/)?.[1],
      });
    case '23514': // check_violation
      return new ApiError(400, 'CONSTRAINT_VIOLATED', 'a value is out of its allowed range', {
        details: { constraint: pgErr.constraint },
      });
    case '22001': // string_data_right_truncation
    case '22P02': // invalid_text_representation
    case '22021': // character_not_in_repertoire (a NUL in text)
      return new ApiError(400, 'INVALID_VALUE', 'a value has the wrong form');
    case '40001': // serialization_failure
    case '40P01': // deadlock_detected
      return new ApiError(503, 'RETRY', 'a concurrent change got in the way; retry the request');
    case '55P03': // lock_not_available
    case '57014': // query_canceled (statement_timeout)
      return new ApiError(503, 'BUSY', 'the database is busy; retry the request');
    default:
      return undefined;
  }
}

/** Whether a client may retry the same request (with the same Idempotency-Key) and expect a different outcome. */
export const isRetryable = (err: ApiError) => err.status === 503;
