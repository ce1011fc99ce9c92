/**
 * Bearer tokens as the write API issues them, checked the same way (`@bgc/http-api/bearer-auth`). A token the
 * replica does not know is looked up on the primary before it is refused: it may have been issued a moment ago and
 * not be replayed yet.
 */
import type pg from 'pg';
import { bearerAuthenticator, findToken } from '@bgc/http-api/bearer-auth';

export function authenticator(
  dbs: { replica: pg.Pool; primary: pg.Pool },
  opts: { cacheSeconds: number; cacheEntries: number },
): (authorization: string | undefined) => Promise<string> {
  return bearerAuthenticator({
    ...opts,
    lookUp: async (token) => (await findToken(dbs.replica, token)) ?? (await findToken(dbs.primary, token)),
    signIn: 'the write API’s /v1/auth/login',
  }).authenticate;
}
