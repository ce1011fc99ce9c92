/**
 * Users and their relationships as the read API reads them: followers and following pages (the keyset shape of
 * queries.ts's friendsPage), the profile document a cache fill writes to Redis (rows with their versions, in the
 * CDC events' JSON, and the user's counts), and whom a user blocks.
 */
import type { FriendRow } from './queries.ts';
import { cursorT, query, type Time, type Uuid } from './query.ts';

/**
 * One side of a user's accepted follows as a keyset page, newest follow first: `given` is the user's column,
 * `listed` the other side's (the accounts the page shows).
 */
const followPage = (
  name: string,
  index: string,
  given: 'from_user_id' | 'to_user_id',
  listed: 'from_user_id' | 'to_user_id',
) =>
  query<[userId: Uuid, cursorT: Time, cursorId: Uuid, limit: number], FriendRow>(
    name,
    { indexes: [index, 'users_pkey'] },
    `
SELECT r.${listed} AS id, u.name, u.image, r.created_at AS since, ${cursorT('r.created_at')} AS cursor_t
  FROM relationships r JOIN users u ON u.id = r.${listed}
 WHERE r.${given} = $1 AND r.type = 'FOLLOW' AND r.status = 'ACCEPTED'
   AND (r.created_at, r.${listed}) < ($2::timestamptz, $3::uuid)
 ORDER BY r.created_at DESC, r.${listed} DESC
 LIMIT $4`,
  );

/** Accounts following a user. relationships_to_user_idx (to_user_id, type, status). */
export const followersPage = followPage('followers_page', 'relationships_to_user_idx', 'to_user_id', 'from_user_id');

/** Accounts a user follows. relationships_from_user_id_type_to_user_id_key. */
export const followingPage = followPage(
  'following_page',
  'relationships_from_user_id_type_to_user_id_key',
  'from_user_id',
  'to_user_id',
);

export interface DocumentRow {
  /** the users row as CDC publishes it (no password hash), timestamps in the session's UTC */
  u: Record<string, unknown> | null;
  p: Record<string, unknown> | null;
  /** the user_counts row: the counts (kept by triggers on relationships) and their version */
  c: (Counts & { version: number }) | null;
}

/**
 * The profile document's parts, as the projector stores them: the users row (CDC's column list), the profiles
 * row and the user's counts, each with its version. users_pkey, profiles_pkey, user_counts_pkey.
 */
export const profileDocument = query<[userId: Uuid], DocumentRow>(
  'profile_document',
  { indexes: ['users_pkey', 'profiles_pkey', 'user_counts_pkey'] },
  `
SELECT (SELECT row_to_json(x) FROM (SELECT id, email, name, image, is_active, last_active_at, created_at, updated_at,
                                           version FROM users WHERE id = $1) x) AS u,
       (SELECT row_to_json(p) FROM profiles p WHERE p.user_id = $1) AS p,
       (SELECT row_to_json(c) FROM (SELECT friends, followers, following, blocking, version
                                      FROM user_counts WHERE user_id = $1) c) AS c`,
);

/** A user's counts, as `user_counts` keeps them: what a profile shows, and whether the user blocks anyone. */
export type Counts = {
  friends: number;
  followers: number;
  following: number;
  blocking: number;
};

/** Users a user blocks. relationships_from_user_id_type_to_user_id_key. */
export const blockedBy = query<[userId: Uuid], { id: Uuid }>(
  'blocked_by',
  { indexes: ['relationships_from_user_id_type_to_user_id_key'] },
  `SELECT to_user_id AS id FROM relationships WHERE from_user_id = $1 AND type = 'BLOCK'`,
);

/** Every query of this module, for the plan test. */
export const peopleQueries = { followersPage, followingPage, profileDocument, blockedBy } as const;
