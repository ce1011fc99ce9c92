/**
 * What the feed builder (issue 6) and the read API's feed read from the database: who receives an author's post
 * (fan-out), what one viewer sees of one author (a new or ended follow or friendship), an author's recent posts
 * (backfill, and the pulled authors' lists), one user's whole feed (the lazy rebuild), and status bodies by key.
 *
 * "Sees" is the spec's CTE (queries.ts, homeFeedPage) read from the author's side: the viewer themself, accepted
 * friends in either direction (every post), accepted followers (PUBLIC posts only), and nobody across a block in
 * either direction. "Active" is `is_active` and a sign-in (`last_active_at`) or, for a user who never signed in
 * again, the sign-up (`created_at`) within the window: fan-out skips everyone else, whose feeds are rebuilt when
 * they come back.
 */
import { cursorT, query, type Time, type Uuid } from './query.ts';
import { feedAuthors } from './queries.ts';

export interface AudienceRow {
  user_id: Uuid;
  /** a friend sees FRIENDS posts too; a follower who is not a friend only PUBLIC ones */
  friend: boolean;
}

/**
 * Everyone active who sees an author's posts (not the author). Incoming edges (followers, friends who asked) through
 * relationships_to_user_idx, outgoing friendships through the unique (from_user_id, type, to_user_id) index, each
 * person's activity through users_pkey: proportional to the author's audience, which the builder only reads for
 * authors below the follower threshold.
 */
export const feedAudience = query<[authorId: Uuid, activeSince: Time], AudienceRow>(
  'feed_audience',
  { indexes: ['relationships_to_user_idx', 'relationships_from_user_id_type_to_user_id_key', 'users_pkey'] },
  `
WITH edges AS (
  SELECT r.from_user_id AS id, r.type = 'FRIEND' AS friend FROM relationships r
   WHERE r.to_user_id = $1 AND r.type IN ('FRIEND', 'FOLLOW') AND r.status = 'ACCEPTED'
  UNION ALL
  SELECT r.to_user_id, true FROM relationships r
   WHERE r.from_user_id = $1 AND r.type = 'FRIEND' AND r.status = 'ACCEPTED'
), people AS (
  SELECT e.id, bool_or(e.friend) AS friend FROM edges e GROUP BY e.id
)
SELECT p.id AS user_id, p.friend
  FROM people p JOIN users u ON u.id = p.id
 WHERE u.is_active AND greatest(u.last_active_at, u.created_at) >= $2::timestamptz
   AND NOT EXISTS (SELECT 1 FROM relationships b WHERE b.from_user_id = p.id AND b.type = 'BLOCK' AND b.to_user_id = $1)
   AND NOT EXISTS (SELECT 1 FROM relationships b WHERE b.from_user_id = $1 AND b.type = 'BLOCK' AND b.to_user_id = p.id)`,
);

/**
 * An author's followers, counted up to `cap` (the threshold + 1): whether to fan out or to pull. The LIMIT keeps it
 * cheap for an author with millions. An index-only range of relationships_to_user_idx.
 */
export const followerCountCapped = query<[authorId: Uuid, cap: number], { n: number }>(
  'follower_count_capped',
  { indexes: ['relationships_to_user_idx'] },
  `
SELECT count(*)::int AS n FROM (
  SELECT 1 FROM relationships r WHERE r.to_user_id = $1 AND r.type = 'FOLLOW' AND r.status = 'ACCEPTED' LIMIT $2
) f`,
);

export interface PairRow {
  viewer_id: Uuid;
  author_id: Uuid;
  /** the viewer sees the author's posts (PUBLIC ones at least) */
  sees: boolean;
  friend: boolean;
}

/**
 * What each viewer sees of each author now, for many pairs at once (a chunk of relationship changes: one query, not
 * one per event); a row per pair. The unique (from_user_id, type, to_user_id) index, both directions, per pair.
 */
export const pairRelations = query<[viewerIds: Uuid[], authorIds: Uuid[]], PairRow>(
  'pair_relations',
  { indexes: ['relationships_from_user_id_type_to_user_id_key'] },
  `
SELECT p.viewer_id, p.author_id, x.sees, x.friend
  FROM unnest($1::uuid[], $2::uuid[]) AS p(viewer_id, author_id)
 CROSS JOIN LATERAL (
       SELECT count(*) > 0 AS sees, coalesce(bool_or(e.friend), false) AS friend
         FROM (SELECT r.type = 'FRIEND' AS friend FROM relationships r
                WHERE r.from_user_id = p.viewer_id AND r.type IN ('FRIEND', 'FOLLOW') AND r.to_user_id = p.author_id
                  AND r.status = 'ACCEPTED'
               UNION ALL
               SELECT true FROM relationships r
                WHERE r.from_user_id = p.author_id AND r.type = 'FRIEND' AND r.to_user_id = p.viewer_id
                  AND r.status = 'ACCEPTED') e
        WHERE NOT EXISTS (SELECT 1 FROM relationships b
                           WHERE b.from_user_id = p.viewer_id AND b.type = 'BLOCK' AND b.to_user_id = p.author_id)
          AND NOT EXISTS (SELECT 1 FROM relationships b
                           WHERE b.from_user_id = p.author_id AND b.type = 'BLOCK' AND b.to_user_id = p.viewer_id)) x`,
);

export interface PostRow {
  id: Uuid;
  cursor_t: string;
  author_id: Uuid;
  content: string;
  visibility: 'PUBLIC' | 'FRIENDS';
  /** bigint as text */
  version: string;
  created_at: string;
  updated_at: string;
}

const postColumns = (s: string) =>
  `${s}.id, ${cursorT(`${s}.created_at`)} AS cursor_t, ${s}.author_id, ${s}.content, ${s}.visibility, ` +
  `${s}.version::text AS version, ${cursorT(`${s}.created_at`)} AS created_at, ${cursorT(`${s}.updated_at`)} AS updated_at`;

/**
 * An author's newest posts in [since, until] (all of them, or PUBLIC only), newest first: a follow's backfill and a
 * pulled author's list. status_updates_author_keyset_idx per weekly partition of the window.
 */
export const authorRecentPosts = query<
  [authorId: Uuid, friendsToo: boolean, since: Time, until: Time, limit: number],
  PostRow
>(
  'author_recent_posts',
  { indexes: ['status_updates_author_keyset_idx'], partitions: [{ table: 'status_updates', max: 16 }] },
  `
SELECT ${postColumns('s')}
  FROM status_updates s
 WHERE s.author_id = $1 AND ($2::boolean OR s.visibility = 'PUBLIC')
   AND s.created_at >= $3::timestamptz AND s.created_at <= $4::timestamptz
 ORDER BY s.created_at DESC, s.id DESC
 LIMIT $5`,
);

export interface RebuildRow {
  id: Uuid;
  cursor_t: string;
  author_id: Uuid;
}

/**
 * One user's feed for a rebuild: the spec's CTE (homeFeedPage's shape: one LATERAL probe of
 * status_updates_author_keyset_idx per author) over [since, until], up to `limit` (the feed's cap), without the
 * pulled authors (`excluded`: merged at read time; the user themself is never excluded). Kept apart from
 * homeFeedPage, which pages a feed for reading, because of that exclusion.
 */
export const feedRebuild = query<[userId: Uuid, excluded: Uuid[], since: Time, until: Time, limit: number], RebuildRow>(
  'feed_rebuild',
  {
    indexes: ['status_updates_author_keyset_idx', 'relationships_from_user_id_type_to_user_id_key'],
    partitions: [{ table: 'status_updates', max: 16 }],
  },
  `
WITH ${feedAuthors('(e.id = $1 OR NOT e.id = ANY($2::uuid[]))\n     AND ')}
SELECT s.id, ${cursorT('s.created_at')} AS cursor_t, s.author_id
  FROM authors a
 CROSS JOIN LATERAL (
       SELECT s.id, s.created_at, s.author_id FROM status_updates s
        WHERE s.author_id = a.id AND (a.friend OR s.visibility = 'PUBLIC')
          AND s.created_at >= $3::timestamptz AND s.created_at <= $4::timestamptz
        ORDER BY s.created_at DESC, s.id DESC
        LIMIT $5) s
 ORDER BY s.created_at DESC, s.id DESC
 LIMIT $5`,
);

/** Of the pulled authors, the ones a viewer sees, and whether as a friend. The viewer's edges, as in the CTE. */
export const viewerPulledAuthors = query<[viewerId: Uuid, pulled: Uuid[]], { author_id: Uuid; friend: boolean }>(
  'viewer_pulled_authors',
  { indexes: ['relationships_from_user_id_type_to_user_id_key'] },
  `
WITH edges AS (
  SELECT r.to_user_id AS id, r.type = 'FRIEND' AS friend FROM relationships r
   WHERE r.from_user_id = $1 AND r.type IN ('FRIEND', 'FOLLOW') AND r.status = 'ACCEPTED'
  UNION ALL
  SELECT r.from_user_id, true FROM relationships r
   WHERE r.to_user_id = $1 AND r.type = 'FRIEND' AND r.status = 'ACCEPTED'
)
SELECT e.id AS author_id, bool_or(e.friend) AS friend FROM edges e
 WHERE e.id = ANY($2::uuid[])
   AND NOT EXISTS (SELECT 1 FROM relationships b WHERE b.from_user_id = $1 AND b.type = 'BLOCK' AND b.to_user_id = e.id)
   AND NOT EXISTS (SELECT 1 FROM relationships b WHERE b.from_user_id = e.id AND b.type = 'BLOCK' AND b.to_user_id = $1)
 GROUP BY e.id`,
);

/** Whether a user is active, and since when (their last sign-in, or the sign-up). users_pkey. */
export const userActivity = query<[userId: Uuid], { is_active: boolean; active_at: Date }>(
  'user_activity',
  { indexes: ['users_pkey'] },
  `SELECT u.is_active, greatest(u.last_active_at, u.created_at) AS active_at FROM users u WHERE u.id = $1`,
);

/**
 * Status updates by key (the read API's bodies missing from the cache): `created_at = ANY` lets the planner prune to
 * the partitions of those times; the pairs are matched exactly in SQL. status_updates_pkey (id, created_at).
 */
export const statusesByKeys = query<[ids: Uuid[], createdAts: Time[]], PostRow>(
  'statuses_by_keys',
  { indexes: ['status_updates_pkey'] },
  `
SELECT ${postColumns('s')}
  FROM status_updates s
  JOIN unnest($1::uuid[], $2::timestamptz[]) AS k(id, created_at) ON k.id = s.id AND k.created_at = s.created_at
 WHERE s.id = ANY($1::uuid[]) AND s.created_at = ANY($2::timestamptz[])`,
);

/** Every query of this module, for the plan test. */
export const feedQueries = {
  feedAudience,
  followerCountCapped,
  pairRelations,
  authorRecentPosts,
  feedRebuild,
  viewerPulledAuthors,
  userActivity,
  statusesByKeys,
} as const;
