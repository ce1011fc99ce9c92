/**
 * Bearer tokens as the write API issues them (random 256-bit, stored as SHA-256 with an expiry in `auth_tokens`),
 * checked the same way. Tokens seen recently are remembered in process for a few seconds (bounded, least recently
 * used first out), so most requests cost no round trip; a revoked token keeps working here for at most that long.
 * A token the replica does not know is looked up on the primary before it is refused: it may have been issued
 * a moment ago and not be replayed yet.
 */
import crypto from 'node:crypto';
import type pg from 'pg';
import { ApiError } from '@bgc/http-api/api-error';

const tokenHash = (token: string) => crypto.createHash('sha256').update(token).digest();

export function authenticator(
  dbs: { replica: pg.Pool; primary: pg.Pool },
  opts: { cacheSeconds: number; cacheEntries: number },
) {
  const cache = new Map<string, { userId: string; until: number }>();
  const lookUp = async (db: pg.Pool, token: string) => {
    const { rows } = await db.query<{ user_id: string; expires_at: Date }>(
      'SELECT user_id, expires_at FROM auth_tokens WHERE token_hash = $1',
      [tokenHash(token)],
    );
    return rows[0];
  };
  return async (authorization: string | undefined): Promise<string> => {
    const m = /^Bearer ([A-Za-z0-9_-]{43})$/.exec(authorization ?? '');
    if (!m?.[1]) {
      throw new ApiError(
        401,
        'UNAUTHENTICATED',
        'send Authorization: Bearer <token> from the write API’s /v1/auth/login',
        {
          field: 'Authorization',
        },
      );
    }
    const token = m[1];
    const now = Date.now();
    const hit = cache.get(token);
    if (hit && hit.until > now) {
      cache.delete(token); // re-insert: Map order is the LRU order
      cache.set(token, hit);
      return hit.userId;
    }
    const row = (await lookUp(dbs.replica, token)) ?? (await lookUp(dbs.primary, token));
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
}
