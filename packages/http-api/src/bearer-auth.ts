/**
 * Bearer tokens as the write API issues them: a random 256-bit token, of which only its SHA-256 is stored, with an
 * expiry, in `auth_tokens` (a leaked table grants nothing). Both HTTP APIs resolve a token to its user here. Tokens
 * seen recently are remembered in process for a few seconds (bounded, least recently used first out), so most
 * requests cost no round trip; a token revoked through another instance keeps working there for at most that long.
 */
import crypto from 'node:crypto';
import type pg from 'pg';
import { ApiError } from './api-error.ts';

export const tokenHash = (token: string) => crypto.createHash('sha256').update(token).digest();

export interface TokenRow {
  user_id: string;
  expires_at: Date;
}

/**
 * The token's row in `db`, by its hash; undefined when `db` does not know it, or when its user is deactivated
 * (`is_active` false: an operator's deactivation cuts the tokens already issued, not only new sign-ins).
 */
export async function findToken(db: pg.Pool, token: string): Promise<TokenRow | undefined> {
  const { rows } = await db.query<TokenRow>(
    `SELECT t.user_id, t.expires_at FROM auth_tokens t JOIN users u ON u.id = t.user_id
      WHERE t.token_hash = $1 AND u.is_active`,
    [tokenHash(token)],
  );
  return rows[0];
}

export function bearerAuthenticator(opts: {
  lookUp: (token: string) => Promise<TokenRow | undefined>;
  cacheSeconds: number;
  cacheEntries: number;
  /** where a client gets a token, for the 401 that says none was sent */
  signIn: string;
}) {
  const cache = new Map<string, { userId: string; until: number }>();
  /** The user of `Authorization: Bearer <token>`; a 401 when it is missing, unknown or expired. */
  const authenticate = async (authorization: string | undefined): Promise<string> => {
    const m = /^Bearer ([A-Za-z0-9_-]{43})$/.exec(authorization ?? '');
    if (!m?.[1]) {
      throw new ApiError(401, 'UNAUTHENTICATED', `send Authorization: Bearer <token> from ${opts.signIn}`, {
        field: 'Authorization',
      });
    }
    const token = m[1];
    const now = Date.now();
    const hit = cache.get(token);
    if (hit && hit.until > now) {
      cache.delete(token); // re-insert: Map order is the LRU order
      cache.set(token, hit);
      return hit.userId;
    }
    const row = await opts.lookUp(token);
    if (!row || row.expires_at.getTime() <= now) {
      cache.delete(token);
      throw new ApiError(401, 'TOKEN_INVALID', 'the token is unknown or expired; sign in again', {
        field: 'Authorization',
      });
    }
    cache.set(token, {
      userId: row.user_id,
      until: Math.min(now + opts.cacheSeconds * 1000, row.expires_at.getTime()),
    });
    if (cache.size > opts.cacheEntries) cache.delete(cache.keys().next().value ?? '');
    return row.user_id;
  };
  /** Forgets a cached token at once (sign-out through this instance). */
  const forget = (token: string) => cache.delete(token);
  return { authenticate, forget };
}
