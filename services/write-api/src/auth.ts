/**
 * Passwords are hashed with Argon2id (memory-hard; OWASP's minimum parameters: 19 MiB, 2 passes). A sign-in
 * issues a random 256-bit bearer token; only its SHA-256 is stored (`tokenHash`), with an expiry, so a leaked table
 * grants nothing. Unknown email and wrong password take the same time and give the same answer.
 */
import crypto from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import type { Request } from 'express';
import type pg from 'pg';
import { bearerAuthenticator, findToken } from '@bgc/http-api/bearer-auth';

// algorithm 2 is Argon2id (the package's const enum cannot be imported under verbatimModuleSyntax)
const ARGON2 = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

export const hashPassword = (password: string) => hash(password, ARGON2);

// verifying against this keeps "no such user" as slow as "wrong password"
const dummyHash = hash('not-a-real-password', ARGON2);

export async function passwordMatches(stored: string | undefined, password: string): Promise<boolean> {
  if (stored === undefined) {
    await verify(await dummyHash, password);
    return false;
  }
  return verify(stored, password);
}

export function newToken(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/**
 * Resolves `Authorization: Bearer <token>` to its user (`@bgc/http-api/bearer-auth`, shared with the read API: a
 * cache of recent tokens in process, then plain SQL on the pool; through Prisma Client the lookup cost about a
 * millisecond of CPU). Revocation through this instance is immediate (`forget`).
 */
export function authenticator(pool: pg.Pool, opts: { cacheSeconds: number; cacheEntries: number }) {
  const tokens = bearerAuthenticator({ ...opts, lookUp: (token) => findToken(pool, token), signIn: '/v1/auth/login' });
  return {
    authenticate: (req: Request) => tokens.authenticate(req.get('authorization')),
    forget: tokens.forget,
  };
}
