/**
 * Representative parameters for the feed queries (feeds.ts), beside samples.ts's for the others: the sampled user
 * as author and viewer, an author they follow, the window the builder uses, a few status updates by key.
 */
import type { feedQueries } from './feeds.ts';
import type { Queryable } from './query.ts';
import type { Samples } from './samples.ts';

const DAY = 86_400_000;

export async function feedSampleParams(db: Queryable, s: Samples) {
  const { rows: followed } = await db.query<{ id: string }>(
    `SELECT to_user_id AS id FROM relationships WHERE from_user_id = $1 AND type = 'FOLLOW' AND status = 'ACCEPTED'
      LIMIT 1`,
    [s.userId],
  );
  const author = followed[0]?.id ?? s.userId;
  const { rows: keys } = await db.query<{ id: string; t: string }>(
    `SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t
       FROM status_updates WHERE author_id = $1 ORDER BY created_at DESC, id DESC LIMIT 20`,
    [author],
  );
  const since = new Date(s.now.getTime() - 91 * DAY);
  const until = new Date(s.now.getTime() + 60_000);
  return {
    feedAudience: [s.userId, new Date(s.now.getTime() - 30 * DAY)],
    followerCountCapped: [author, 1001],
    pairRelations: [
      [s.userId, author],
      [author, s.userId],
    ],
    authorRecentPosts: [author, true, since, until, 800],
    feedRebuild: [s.userId, [author], since, until, 800],
    viewerPulledAuthors: [s.userId, [author]],
    userActivity: [s.userId],
    statusesByKeys: [keys.map((k) => k.id), keys.map((k) => k.t)],
  } satisfies { [K in keyof typeof feedQueries]: NonNullable<(typeof feedQueries)[K]['params']> };
}
