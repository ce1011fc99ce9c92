/**
 * The read API's own SQL, for what `@bgc/queries` does not have yet: followers and following pages (the same
 * keyset shape as its friendsPage), the profile document a fill writes to Redis (rows with their versions, in the
 * CDC events' JSON), counts, blocks, memberships, and the estimate queries of the lists it pages. They belong in
 * `@bgc/queries` with plan tests; kept here until they move.
 */
import type { FriendRow, PlanExpectation, Query } from '@bgc/queries/queries';

const query = <P extends readonly unknown[], R>(name: string, plan: PlanExpectation, text: string): Query<P, R> => ({
  name,
  plan,
  text: text.trim(),
});

const cursorT = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

type Uuid = string;
type Time = string | Date;

/** Accounts following a user, newest follow first. relationships_to_user_idx (to_user_id, type, status). */
export const followersPage = query<[userId: Uuid, cursorT: Time, cursorId: Uuid, limit: number], FriendRow>(
  'followers_page',
  { indexes: ['relationships_to_user_idx', 'users_pkey'] },
  `
SELECT r.from_user_id AS id, u.name, u.image, r.created_at AS since, ${cursorT('r.created_at')} AS cursor_t
  FROM relationships r JOIN users u ON u.id = r.from_user_id
 WHERE r.to_user_id = $1 AND r.type = 'FOLLOW' AND r.status = 'ACCEPTED'
   AND (r.created_at, r.from_user_id) < ($2::timestamptz, $3::uuid)
 ORDER BY r.created_at DESC, r.from_user_id DESC
 LIMIT $4`,
);

/** Accounts a user follows, newest first. relationships_from_user_id_type_to_user_id_key. */
export const followingPage = query<[userId: Uuid, cursorT: Time, cursorId: Uuid, limit: number], FriendRow>(
  'following_page',
  { indexes: ['relationships_from_user_id_type_to_user_id_key', 'users_pkey'] },
  `
SELECT r.to_user_id AS id, u.name, u.image, r.created_at AS since, ${cursorT('r.created_at')} AS cursor_t
  FROM relationships r JOIN users u ON u.id = r.to_user_id
 WHERE r.from_user_id = $1 AND r.type = 'FOLLOW' AND r.status = 'ACCEPTED'
   AND (r.created_at, r.to_user_id) < ($2::timestamptz, $3::uuid)
 ORDER BY r.created_at DESC, r.to_user_id DESC
 LIMIT $4`,
);

export interface DocumentRow {
  /** the users row as CDC publishes it (no password hash), timestamps in the session's UTC */
  u: Record<string, unknown> | null;
  p: Record<string, unknown> | null;
}

/**
 * The profile document's parts, as the projector stores them: the users row (CDC's column list) and the profiles
 * row, each with its version. users_pkey, profiles_pkey.
 */
export const profileDocument = query<[userId: Uuid], DocumentRow>(
  'profile_document',
  { indexes: ['users_pkey', 'profiles_pkey'] },
  `
SELECT (SELECT row_to_json(x) FROM (SELECT id, email, name, image, is_active, last_active_at, created_at, updated_at,
                                           version FROM users WHERE id = $1) x) AS u,
       (SELECT row_to_json(p) FROM profiles p WHERE p.user_id = $1) AS p`,
);

export interface CountsRow {
  friends: number;
  followers: number;
  following: number;
}

/** The profile's counts, as profileById counts them (index range scans proportional to the counts). */
export const relationCounts = query<[userId: Uuid], CountsRow>(
  'relation_counts',
  { indexes: ['relationships_from_user_id_type_to_user_id_key', 'relationships_to_user_idx'] },
  `
SELECT ((SELECT count(*) FROM relationships r WHERE r.from_user_id = $1 AND r.type = 'FRIEND' AND r.status = 'ACCEPTED')
        + (SELECT count(*) FROM relationships r WHERE r.to_user_id = $1 AND r.type = 'FRIEND' AND r.status = 'ACCEPTED'))::int AS friends,
       (SELECT count(*) FROM relationships r WHERE r.to_user_id = $1 AND r.type = 'FOLLOW' AND r.status = 'ACCEPTED')::int AS followers,
       (SELECT count(*) FROM relationships r WHERE r.from_user_id = $1 AND r.type = 'FOLLOW' AND r.status = 'ACCEPTED')::int AS following`,
);

/** Users a user blocks. relationships_from_user_id_type_to_user_id_key. */
export const blockedBy = query<[userId: Uuid], { id: Uuid }>(
  'blocked_by',
  { indexes: ['relationships_from_user_id_type_to_user_id_key'] },
  `SELECT to_user_id AS id FROM relationships WHERE from_user_id = $1 AND type = 'BLOCK'`,
);

/** Whether a user is a member of a room (and whether the room exists). room_members_pkey, chat_rooms_pkey. */
export const roomMembership = query<[roomId: Uuid, userId: Uuid], { exists: boolean; member: boolean }>(
  'room_membership',
  { indexes: ['room_members_pkey', 'chat_rooms_pkey'] },
  `SELECT EXISTS (SELECT 1 FROM chat_rooms WHERE id = $1) AS exists,
          EXISTS (SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2) AS member`,
);

export const conversationMembership = query<[conversationId: Uuid, userId: Uuid], { exists: boolean; member: boolean }>(
  'conversation_membership',
  { indexes: ['conversation_participants_pkey', 'conversations_pkey'] },
  `SELECT EXISTS (SELECT 1 FROM conversations WHERE id = $1) AS exists,
          EXISTS (SELECT 1 FROM conversation_participants WHERE conversation_id = $1 AND user_id = $2) AS member`,
);

export const categoryExists = query<[categoryId: Uuid], { exists: boolean }>(
  'category_exists',
  { indexes: ['forum_categories_pkey'] },
  `SELECT EXISTS (SELECT 1 FROM forum_categories WHERE id = $1) AS exists`,
);

/** Planner estimates (EXPLAIN only) for "about N" of the searches `@bgc/queries` has no estimate for. */
export const estimates = {
  stateProfiles: query<[state: string], never>(
    'estimate_state_profiles',
    { indexes: [] },
    'SELECT 1 FROM profiles WHERE location_state = $1',
  ),
  cityProfiles: query<[state: string, city: string], never>(
    'estimate_city_profiles',
    { indexes: [] },
    'SELECT 1 FROM profiles WHERE location_state = $1 AND location_city = $2',
  ),
  namePrefix: query<[prefix: string], never>(
    'estimate_name_prefix',
    { indexes: [] },
    `SELECT 1 FROM users WHERE lower(name) LIKE replace(replace(replace(lower($1::text), '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'`,
  ),
};
