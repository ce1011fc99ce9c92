/**
 * Configuration from environment variables, validated once at the edge. Every variable carries the `BGC_` prefix;
 * a service declares the variables it reads as a zod shape and gets a typed, frozen object back, or a ConfigError
 * that names each wrong variable and what it expects. Values of secret variables never appear in messages.
 */
import { z } from 'zod';

export const ENV_PREFIX = 'BGC_';

export type EnvShape = Record<string, z.ZodType>;

export interface ConfigIssue {
  variable: string;
  expected: string;
  received: string;
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly issues: readonly ConfigIssue[];

  constructor(issues: ConfigIssue[]) {
    super(
      `invalid configuration:\n${issues
        .map((i) => `  ${i.variable}: expected ${i.expected}, got ${i.received}`)
        .join('\n')}\nSet or unset these environment variables; unset ones default to the local stack.`,
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** Marks a variable whose value must never be printed (passwords, tokens, URLs with credentials). */
const secretVariables = new WeakSet<z.ZodType>();
export function secret<T extends z.ZodType>(schema: T): T {
  secretVariables.add(schema);
  return schema;
}

/** Reads `BGC_<NAME>` for each key of the shape (keys are written in SCREAMING_SNAKE without the prefix). */
export function loadEnv<S extends EnvShape>(
  shape: S,
  env: NodeJS.ProcessEnv = process.env,
): Readonly<{ [K in keyof S]: z.output<S[K]> }> {
  const issues: ConfigIssue[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(shape)) {
    const variable = ENV_PREFIX + key;
    const raw = env[variable];
    const value = raw === '' ? undefined : raw;
    const result = schema.safeParse(value);
    if (result.success) {
      out[key] = result.data;
    } else {
      const shown = value === undefined ? 'nothing' : secretVariables.has(schema) ? '(a secret value)' : `'${value}'`;
      issues.push({ variable, expected: describe(result.error, schema), received: shown });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return Object.freeze(out) as { [K in keyof S]: z.output<S[K]> };
}

function describe(error: z.ZodError, schema: z.ZodType): string {
  return schema.description ?? error.issues.map((i) => i.message).join('; ');
}

/** For a process entry point: load or print the problem and exit with EX_CONFIG (78). */
export function loadEnvOrExit<S extends EnvShape>(shape: S, env: NodeJS.ProcessEnv = process.env) {
  try {
    return loadEnv(shape, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

// Reusable variable types, each with a description that becomes the error text.
export const envTypes = {
  /** `protocols` without the colon, as zod compares them: ['postgres', 'postgresql']. */
  url: (protocols: string[], fallback: string) =>
    z
      .url({ protocol: new RegExp(`^(${protocols.join('|')})$`) })
      .default(fallback)
      .describe(`a ${protocols.map((p) => `${p}://`).join(' or ')} URL such as ${redactUrl(fallback)}`),
  hostPorts: (fallback: string) =>
    z
      .string()
      .default(fallback)
      .transform((s) => s.split(',').map((p) => p.trim()))
      .pipe(z.array(z.string().regex(/^[\w.-]+:\d{1,5}$/)).min(1))
      .describe(`a comma-separated list of host:port such as ${fallback}`),
  /** A list of host:port, or empty (the feature it configures is off). */
  hostPortsOrNone: () =>
    z
      .string()
      .regex(/^$|^[^\s:,]+:\d+(,[^\s:,]+:\d+)*$/)
      .default('')
      .transform((s) =>
        s === ''
          ? []
          : s.split(',').map((n) => {
              const [host, port] = n.split(':');
              return { host: host ?? '', port: Number(port) };
            }),
      )
      .describe('host:port pairs separated by commas, or nothing'),
  port: (fallback: number) =>
    z.coerce
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(fallback)
      .describe('a TCP port number (0-65535; 0 picks a free one)'),
  positiveInt: (fallback: number) =>
    z.coerce.number().int().positive().default(fallback).describe('a positive integer'),
  nonNegativeInt: (fallback: number) =>
    z.coerce.number().int().min(0).default(fallback).describe('an integer, 0 or more'),
  oneOf: <const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) =>
    z
      .enum(values)
      .default(fallback as never)
      .describe(`one of ${values.join(', ')}`),
  boolean: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0'])
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1')
      .describe('true or false'),
};

/** A URL with its password replaced, safe for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
