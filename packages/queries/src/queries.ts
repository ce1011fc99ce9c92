/**
 * The production read queries: named, parameterized SQL with typed parameters and rows. Each states the index it
 * relies on (`plan.indexes`, checked against EXPLAIN by plans.pg.test.ts) and, for partitioned tables, how far
 * partition pruning must cut the scan (`plan.partitions`).
 *
 * Conventions
 * - Keyset pagination everywhere but roomHistoryOffset (kept only to benchmark against): `(sort, id) < ($t, $id)`
 *   as a row comparison the B-tree can seek to, ORDER BY the same columns as the index, LIMIT n + 1 to learn
 *   `hasNext` without counting (cursor.ts). A first page passes the sentinel cursor (FIRST_DESC / FIRST_ASC) to
 *   the same query; the chat histories have first-page variants (as the spec has) and the feed's first cursor is
 *   "now", so that their upper time bound prunes the future partitions too.
 * - Timestamps come back twice: as a Date and as `cursor_t`, the exact text with microseconds for the cursor.
 * - History tables are partitioned by time. A query that pages back through one takes a lower time bound
 *   (`since`) besides the cursor: with both bounds known when the statement is planned, pruning keeps only the
 *   partitions of that window and drops DEFAULT, so the scan is an ordered Append over one or two partitions
 *   instead of a Merge Append over every month. page.ts widens the window (and finally passes '-infinity') when a
 *   window holds less than a page, so no row is ever unreachable.
 * - Run them as unnamed statements (pg's default without `name`): each execution is planned with its
 *   parameters, which pruning and the LIKE prefix need. A named prepared statement may switch to a generic plan
 *   after five runs, and PgBouncer's transaction pooling does not keep prepared statements anyway.
 */
import { cursorT, query, type PlanExpectation, type Time, type Uuid } from './query.ts';

export interface MessageRow {
  id: Uuid;
  created_at: Date;
  cursor_t: string;
  room_id: Uuid | null;
  conversation_id: Uuid | null;
  sender_id: Uuid;
  type: 'TEXT' | 'IMAGE' | 'SYSTEM';
  content: string;
  edited_at: Date | null;
  sender_name: string;
  sender_image: string | null;
  sender_city: string | null;
}

// The page's rows first, then their senders: joined outside the LIMIT, the planner knows it joins 51 rows. Joined
// inside, it sized a Memoize cache for every possible sender, and building that cost ~6 ms per page on the
// 20M-message database while the rows themselves took 1.3 ms (bench/README.md, full scale).
const messagePage = (on: 'room_id' | 'conversation_id', keyset: string, limit: string, since: string) => `
SELECT m.id, m.created_at, ${cursorT('m.created_at')} AS cursor_t, m.room_id, m.conversation_id, m.sender_id,
       m.type, m.content, m.edited_at, u.name AS sender_name, u.image AS sender_image, p.location_city AS sender_city
  FROM (SELECT m.id, m.created_at, m.room_id, m.conversation_id, m.sender_id, m.type, m.content, m.edited_at
          FROM messages m
         WHERE m.${on} = $1 ${keyset} AND m.created_at >= ${since}::timestamptz
         ORDER BY m.created_at DESC, m.id DESC
         LIMIT ${limit}) m
  JOIN users u ON u.id = m.sender_id
  LEFT JOIN profiles p ON p.user_id = m.sender_id
 ORDER BY m.created_at DESC, m.id DESC`;
const AFTER = `AND (m.created_at, m.id) < ($2::timestamptz, $3::uuid) AND m.created_at <= $2::timestamptz`;
/** The newest page: below `until` (now, plus a little for clock skew), which also prunes the future partitions. */
const FIRST = `AND m.created_at <= $4::timestamptz`;
const monthWindow = (index: string): PlanExpectation => ({
  indexes: [index, 'users_pkey', 'profiles_pkey'],
  // a window of up to 31 days spans at most two monthly partitions; DEFAULT is pruned
  partitions: [{ table: 'messages', max: 2 }],
});

/**
 * Chat history of a room, newest first: the spec's keyset query. The spec's `room_id = $1 OR conversation_id = $1`
 * is split into this and conversationHistory*: an OR across two columns cannot use either partial index
 * (messages_room_keyset_idx WHERE room_id IS NOT NULL, messages_conversation_keyset_idx WHERE conversation_id IS
 * NOT NULL) and ends in a bitmap OR plus a sort of the whole history; one column per query reads exactly one page
 * off one index in order.
 * Uses messages_room_keyset_idx (room_id, created_at DESC, id DESC); users_pkey, profiles_pkey for the sender.
 */
export const roomHistoryFirst = query<[roomId: Uuid, limit: number, since: Time, until: Time], MessageRow>(
  'room_history_first',
  monthWindow('messages_room_keyset_idx'),
  messagePage('room_id', FIRST, '$2', '$3'),
);
/** The next page below a cursor ($2 time, $3 id) within [since $5, cursor). Uses messages_room_keyset_idx. */
export const roomHistoryAfter = query<
  [roomId: Uuid, cursorT: Time, cursorId: Uuid, limit: number, since: Time],
  MessageRow
>('room_history_after', monthWindow('messages_room_keyset_idx'), messagePage('room_id', AFTER, '$4', '$5'));

/** Direct-message history of a conversation. Uses messages_conversation_keyset_idx. */
export const conversationHistoryFirst = query<
  [conversationId: Uuid, limit: number, since: Time, until: Time],
  MessageRow
>(
  'conversation_history_first',
  monthWindow('messages_conversation_keyset_idx'),
  messagePage('conversation_id', FIRST, '$2', '$3'),
);
export const conversationHistoryAfter = query<
  [conversationId: Uuid, cursorT: Time, cursorId: Uuid, limit: number, since: Time],
  MessageRow
>(
  'conversation_history_after',
  monthWindow('messages_conversation_keyset_idx'),
  messagePage('conversation_id', AFTER, '$4', '$5'),
);

/**
 * The same room page by OFFSET, for the benchmark only: the index still delivers rows in order, but every skipped
 * row is read (and joined) before being thrown away, so the cost grows with the depth.
 */
export const roomHistoryOffset = query<[roomId: Uuid, limit: number, offset: number], MessageRow>(
  'room_history_offset',
  { indexes: ['messages_room_keyset_idx'] },
  messagePage('room_id', '', '$2 OFFSET $3', "'-infinity'"),
);

export interface FriendRow {
  id: Uuid;
  name: string;
  image: string | null;
  since: Date;
  cursor_t: string;
}

/**
 * Friends of a user (accepted FRIEND edges in either direction), newest friendship first, by keyset on
 * (since, friend id). Outgoing edges through the unique (from_user_id, type, to_user_id) index, incoming through
 * relationships_to_user_idx (to_user_id, type, status); each branch stops at its own LIMIT. Neither index holds
 * created_at, so a page costs the user's FRIEND edges, not the page: fine for hundreds of friends.
 */
export const friendsPage = query<[userId: Uuid, cursorT: Time, cursorId: Uuid, limit: number], FriendRow>(
  'friends_page',
  { indexes: ['relationships_from_user_id_type_to_user_id_key', 'relationships_to_user_idx', 'users_pkey'] },
  `
SELECT f.friend_id AS id, u.name, u.image, f.since, ${cursorT('f.since')} AS cursor_t
  FROM ((SELECT r.to_user_id AS friend_id, r.created_at AS since FROM relationships r
          WHERE r.from_user_id = $1 AND r.type = 'FRIEND' AND r.status = 'ACCEPTED'
            AND (r.created_at, r.to_user_id) < ($2::timestamptz, $3::uuid)
          ORDER BY r.created_at DESC, r.to_user_id DESC LIMIT $4)
        UNION ALL
        (SELECT r.from_user_id, r.created_at FROM relationships r
          WHERE r.to_user_id = $1 AND r.type = 'FRIEND' AND r.status = 'ACCEPTED'
            AND (r.created_at, r.from_user_id) < ($2::timestamptz, $3::uuid)
          ORDER BY r.created_at DESC, r.from_user_id DESC LIMIT $4)) f
  JOIN users u ON u.id = f.friend_id
 ORDER BY f.since DESC, f.friend_id DESC
 LIMIT $4`,
);

export interface FeedRow {
  id: Uuid;
  created_at: Date;
  cursor_t: string;
  author_id: Uuid;
  author_name: string;
  author_image: string | null;
  content: string;
  visibility: 'PUBLIC' | 'FRIENDS';
}

/**
 * The CTEs `edges` and `authors` of a home feed: whose posts user $1 sees (themself, accepted friends in either
 * direction, accepted follows; `friend` says whether FRIENDS posts reach them), without anyone on either side of a
 * block. `also`: one more condition on the author `e.id`, followed by AND (the feed builder's rebuild leaves out the
 * pulled authors).
 */
export const feedAuthors = (also = '') => `edges AS (
  SELECT $1::uuid AS id, true AS friend
  UNION ALL
  SELECT r.to_user_id, r.type = 'FRIEND' FROM relationships r
   WHERE r.from_user_id = $1 AND r.type IN ('FRIEND', 'FOLLOW') AND r.status = 'ACCEPTED'
  UNION ALL
  SELECT r.from_user_id, true FROM relationships r
   WHERE r.to_user_id = $1 AND r.type = 'FRIEND' AND r.status = 'ACCEPTED'
), authors AS (
  SELECT e.id, bool_or(e.friend) AS friend FROM edges e
   WHERE ${also}NOT EXISTS (SELECT 1 FROM relationships b WHERE b.from_user_id = $1 AND b.type = 'BLOCK' AND b.to_user_id = e.id)
     AND NOT EXISTS (SELECT 1 FROM relationships b WHERE b.from_user_id = e.id AND b.type = 'BLOCK' AND b.to_user_id = $1)
   GROUP BY e.id
)`;

/**
 * Home feed from the database (the spec's CTE): status updates of the user, of accepted friends (either
 * direction) and of accounts the user follows, newest first, by keyset. FRIENDS posts only reach the author's
 * friends (and the author); a followed non-friend contributes PUBLIC posts only; a block in either direction
 * hides the author. Rewritten for the index: one LATERAL probe of status_updates_author_keyset_idx
 * (author_id, created_at DESC, id DESC) per author, each reading at most one page, then a merge of those few rows,
 * instead of joining every status update with the friend list. The window [since, cursor) prunes the weekly
 * partitions each probe visits.
 */
export const homeFeedPage = query<[userId: Uuid, cursorT: Time, cursorId: Uuid, limit: number, since: Time], FeedRow>(
  'home_feed_page',
  {
    indexes: ['status_updates_author_keyset_idx', 'relationships_from_user_id_type_to_user_id_key'],
    // a window of a few weeks: weekly partitions, never all of them
    partitions: [{ table: 'status_updates', max: 6 }],
  },
  `
WITH ${feedAuthors()}
SELECT s.id, s.created_at, ${cursorT('s.created_at')} AS cursor_t, s.author_id, u.name AS author_name,
       u.image AS author_image, s.content, s.visibility
  FROM authors a
 CROSS JOIN LATERAL (
       SELECT s.id, s.created_at, s.author_id, s.content, s.visibility FROM status_updates s
        WHERE s.author_id = a.id AND (a.friend OR s.visibility = 'PUBLIC')
          AND (s.created_at, s.id) < ($2::timestamptz, $3::uuid)
          AND s.created_at <= $2::timestamptz AND s.created_at >= $5::timestamptz
        ORDER BY s.created_at DESC, s.id DESC
        LIMIT $4) s
  JOIN users u ON u.id = s.author_id
 ORDER BY s.created_at DESC, s.id DESC
 LIMIT $4`,
);

export interface ProfileRow {
  id: Uuid;
  name: string;
  image: string | null;
  is_active: boolean;
  last_active_at: Date | null;
  created_at: Date;
  bio: string | null;
  location_city: string | null;
  location_state: string | null;
  interests: string[];
  roles: string[];
  friends: number;
  followers: number;
  following: number;
}

/**
 * A profile page: user, profile and counts. users_pkey and profiles_pkey; the counts are index(-only) range scans
 * of the unique (from_user_id, type, to_user_id) index and relationships_to_user_idx, proportional to the counts
 * themselves (cache them for accounts with very many followers).
 */
export const profileById = query<[userId: Uuid], ProfileRow>(
  'profile_by_id',
  { indexes: ['users_pkey', 'profiles_pkey', 'relationships_to_user_idx'] },
  `
SELECT u.id, u.name, u.image, u.is_active, u.last_active_at, u.created_at, p.bio, p.location_city,
       p.location_state, coalesce(p.interests, '[]') AS interests, coalesce(p.roles, '[]') AS roles,
       ((SELECT count(*) FROM relationships r WHERE r.from_user_id = u.id AND r.type = 'FRIEND' AND r.status = 'ACCEPTED')
        + (SELECT count(*) FROM relationships r WHERE r.to_user_id = u.id AND r.type = 'FRIEND' AND r.status = 'ACCEPTED'))::int AS friends,
       (SELECT count(*) FROM relationships r WHERE r.to_user_id = u.id AND r.type = 'FOLLOW' AND r.status = 'ACCEPTED')::int AS followers,
       (SELECT count(*) FROM relationships r WHERE r.from_user_id = u.id AND r.type = 'FOLLOW' AND r.status = 'ACCEPTED')::int AS following
  FROM users u
  LEFT JOIN profiles p ON p.user_id = u.id
 WHERE u.id = $1`,
);

export interface PersonRow {
  id: Uuid;
  name: string;
  image: string | null;
  location_city: string | null;
  location_state: string | null;
  /** The sort key for the cursor: the user id, the city, or lower(name). */
  cursor_t: string;
}

const person = `u.id, u.name, u.image, p.location_city, p.location_state`;

/**
 * People with an interest: `interests @> '["chess"]'` through profiles_interests_gin (jsonb_path_ops), paged by
 * user id. The GIN index serves selective interests (the bitmap, then a top-N sort of the matches). For an
 * interest more than ~0.2% of profiles share, walking profiles_pkey in order and filtering until the page is full
 * costs less by the planner's model and it picks that (a close call: at 0.2% on the medium data set, 21 ms by
 * the primary key against 51 ms by GIN, which joins every match to users before sorting).
 */
export const searchByInterest = query<[interests: string, afterUserId: Uuid, limit: number], PersonRow>(
  'search_by_interest',
  { indexes: ['profiles_interests_gin', 'users_pkey'] },
  `
SELECT ${person}, u.id::text AS cursor_t
  FROM profiles p JOIN users u ON u.id = p.user_id
 WHERE p.interests @> $1::jsonb AND p.user_id > $2::uuid AND u.is_active
 ORDER BY p.user_id
 LIMIT $3`,
);

/** People in a state, by city then id: a range read of profiles_location_keyset_idx (location_state, location_city, user_id). */
export const searchByState = query<[state: string, afterCity: string, afterUserId: Uuid, limit: number], PersonRow>(
  'search_by_state',
  { indexes: ['profiles_location_keyset_idx', 'users_pkey'] },
  `
SELECT ${person}, p.location_city AS cursor_t
  FROM profiles p JOIN users u ON u.id = p.user_id
 WHERE p.location_state = $1 AND (p.location_city, p.user_id) > ($2::text, $3::uuid) AND u.is_active
 ORDER BY p.location_city, p.user_id
 LIMIT $4`,
);

/** People in a city of a state, by id: profiles_location_keyset_idx, equality on both columns, then the id range. */
export const searchByCity = query<[state: string, city: string, afterUserId: Uuid, limit: number], PersonRow>(
  'search_by_city',
  { indexes: ['profiles_location_keyset_idx', 'users_pkey'] },
  `
SELECT ${person}, u.id::text AS cursor_t
  FROM profiles p JOIN users u ON u.id = p.user_id
 WHERE p.location_state = $1 AND p.location_city = $2 AND p.user_id > $3::uuid AND u.is_active
 ORDER BY p.user_id
 LIMIT $4`,
);

/**
 * Case-insensitive name prefix: `lower(name) LIKE lower($1) || '%'` through users_name_lower_prefix_idx
 * (lower(name) text_pattern_ops). The input's LIKE metacharacters (\ % _) are escaped in SQL, so 'a_b' matches
 * only 'a_b…'. The pattern operators (~>=~, ~<~) keep the keyset and the order in the index's byte order, which
 * is what text_pattern_ops sorts by whatever the database collation. Paged by (lower(name), id).
 */
export const searchByNamePrefix = query<
  [prefix: string, afterName: string, afterUserId: Uuid, limit: number],
  PersonRow
>(
  'search_by_name_prefix',
  { indexes: ['users_name_lower_prefix_idx', 'profiles_pkey'] },
  `
SELECT ${person}, lower(u.name) AS cursor_t
  FROM users u LEFT JOIN profiles p ON p.user_id = u.id
 WHERE lower(u.name) LIKE replace(replace(replace(lower($1::text), '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'
   AND lower(u.name) ~>=~ $2::text AND (lower(u.name) ~>~ $2::text OR u.id > $3::uuid)
   AND u.is_active
 ORDER BY lower(u.name) USING ~<~, u.id
 LIMIT $4`,
);

export interface ThreadRow {
  id: Uuid;
  title: string;
  author_id: Uuid;
  author_name: string;
  post_count: number;
  last_post_at: Date;
  cursor_t: string;
  created_at: Date;
}

/** A forum category page: threads by last activity, by keyset. Uses forum_threads_category_keyset_idx. */
export const forumCategoryPage = query<[categoryId: Uuid, cursorT: Time, cursorId: Uuid, limit: number], ThreadRow>(
  'forum_category_page',
  { indexes: ['forum_threads_category_keyset_idx', 'users_pkey'] },
  `
SELECT t.id, t.title, t.author_id, u.name AS author_name, t.post_count, t.last_post_at,
       ${cursorT('t.last_post_at')} AS cursor_t, t.created_at
  FROM forum_threads t JOIN users u ON u.id = t.author_id
 WHERE t.category_id = $1 AND (t.last_post_at, t.id) < ($2::timestamptz, $3::uuid)
 ORDER BY t.last_post_at DESC, t.id DESC
 LIMIT $4`,
);

export interface FrontThreadRow {
  id: Uuid;
  /** the row's version (bigint as text) */
  version: string;
  /** last_post_at in epoch milliseconds, as the projector ranks it */
  score: string;
  /** the row as the CDC event carries it (timestamps to the microsecond, UTC) */
  json: string;
}

/**
 * The top of a category's threads as the projector holds them (`@bgc/cache/front-page`): what the read API fills a
 * missing front page with. forum_threads_category_keyset_idx, as the page query.
 */
export const forumFrontRows = query<[categoryId: Uuid, limit: number], FrontThreadRow>(
  'forum_front_rows',
  { indexes: ['forum_threads_category_keyset_idx'] },
  `
SELECT t.id, t.version::text AS version, floor(extract(epoch FROM t.last_post_at) * 1000)::bigint::text AS score,
       json_build_object('id', t.id, 'category_id', t.category_id, 'author_id', t.author_id, 'title', t.title,
                         'post_count', t.post_count, 'last_post_at', ${cursorT('t.last_post_at')},
                         'created_at', ${cursorT('t.created_at')}, 'updated_at', ${cursorT('t.updated_at')},
                         'version', t.version)::text AS json
  FROM forum_threads t
 WHERE t.category_id = $1
 ORDER BY t.last_post_at DESC, t.id DESC
 LIMIT $2`,
);

export interface RankedSenderRow {
  sender_id: Uuid;
  name: string;
  image: string | null;
  messages: number;
  rank: number;
}

/**
 * Most active members of a room in [since, until) (this week: since = now - 7 days, until = now): messages per
 * sender, rank() over the counts. A range of messages_room_keyset_idx in the one or two monthly partitions the
 * window touches.
 */
export const roomTopSenders = query<[roomId: Uuid, since: Time, until: Time, limit: number], RankedSenderRow>(
  'room_top_senders',
  { indexes: ['messages_room_keyset_idx', 'users_pkey'], partitions: [{ table: 'messages', max: 2 }] },
  `
SELECT s.sender_id, u.name, u.image, s.messages, s.rank
  FROM (SELECT m.sender_id, count(*)::int AS messages, (rank() OVER (ORDER BY count(*) DESC))::int AS rank
          FROM messages m
         WHERE m.room_id = $1 AND m.created_at >= $2::timestamptz AND m.created_at < $3::timestamptz
         GROUP BY m.sender_id) s
  JOIN users u ON u.id = s.sender_id
 ORDER BY s.rank, s.sender_id
 LIMIT $4`,
);

export interface TrendingThreadRow {
  category_id: Uuid;
  category: string;
  thread_id: Uuid;
  title: string;
  posts: number;
  rank: number;
}

/**
 * Trending threads per category: posts in [since, until) per thread, rank() OVER (PARTITION BY category). The
 * time bounds prune forum_posts (LIST by category, then RANGE by month) to the one or two months of the window in
 * each category; those small partitions are read whole or through forum_posts_created_brin. Threads by
 * forum_threads_pkey.
 */
export const trendingThreads = query<[since: Time, until: Time, perCategory: number], TrendingThreadRow>(
  'trending_threads',
  {
    indexes: ['forum_threads_pkey'],
    partitions: [{ table: 'forum_posts', max: 2, perListPartition: true }],
  },
  `
WITH recent AS (
  SELECT p.category_id, p.thread_id, count(*)::int AS posts,
         (rank() OVER (PARTITION BY p.category_id ORDER BY count(*) DESC))::int AS rank
    FROM forum_posts p
   WHERE p.created_at >= $1::timestamptz AND p.created_at < $2::timestamptz
   GROUP BY p.category_id, p.thread_id
)
SELECT r.category_id, c.slug AS category, r.thread_id, t.title, r.posts, r.rank
  FROM recent r
  JOIN forum_threads t ON t.id = r.thread_id
  JOIN forum_categories c ON c.id = r.category_id
 WHERE r.rank <= $3
 ORDER BY c.slug, r.rank, r.thread_id`,
);

/**
 * Totals for "about N results": the planner's row estimate of these (EXPLAIN, not run), from the column
 * statistics ANALYZE keeps; page.ts reads them. Never COUNT(*) over a history table per request.
 */
export const estimates = {
  roomMessages: query<[roomId: Uuid], never>(
    'estimate_room_messages',
    { indexes: [] },
    'SELECT 1 FROM messages WHERE room_id = $1',
  ),
  conversationMessages: query<[conversationId: Uuid], never>(
    'estimate_conversation_messages',
    { indexes: [] },
    'SELECT 1 FROM messages WHERE conversation_id = $1',
  ),
  categoryThreads: query<[categoryId: Uuid], never>(
    'estimate_category_threads',
    { indexes: [] },
    'SELECT 1 FROM forum_threads WHERE category_id = $1',
  ),
  interestProfiles: query<[interests: string], never>(
    'estimate_interest_profiles',
    { indexes: [] },
    'SELECT 1 FROM profiles WHERE interests @> $1::jsonb',
  ),
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

/** Every production query, for the plan test and the benchmarks. */
export const productionQueries = {
  roomHistoryFirst,
  roomHistoryAfter,
  conversationHistoryFirst,
  conversationHistoryAfter,
  friendsPage,
  homeFeedPage,
  profileById,
  searchByInterest,
  searchByState,
  searchByCity,
  searchByNamePrefix,
  forumCategoryPage,
  forumFrontRows,
  roomTopSenders,
  trendingThreads,
} as const;
