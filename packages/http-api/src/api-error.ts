/**
 * Every error a client of the HTTP APIs sees: an HTTP status, a stable machine-readable code, the offending field when
 * there is one, and a message for people. Each API adds its own translations (database errors, pool exhaustion).
 */
import type { z } from 'zod';

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

/**
 * A zod failure as a 400 naming the first offending field (`where`: which part of the request; `noun`: what its
 * members are called, for the message about unknown ones).
 */
export function fromZodError(error: z.ZodError, where: string, noun: 'field' | 'parameter'): ApiError {
  const issue = error.issues[0];
  const path = issue?.path.map(String) ?? [];
  const keys = issue?.code === 'unrecognized_keys' ? issue.keys : [];
  const field = [...path, ...keys.slice(0, 1)].join('.') || undefined;
  const message =
    issue?.code === 'unrecognized_keys'
      ? `unknown ${noun}${keys.length > 1 ? 's' : ''}: ${keys.join(', ')}`
      : (issue?.message ?? 'invalid request');
  return new ApiError(400, issue?.code === 'unrecognized_keys' ? 'UNKNOWN_FIELD' : 'VALIDATION_FAILED', message, {
    ...(field ? { field } : {}),
    details: { in: where },
  });
}
