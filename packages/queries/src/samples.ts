/**
 * Representative parameters for the production queries, picked from whatever data a database holds (generated
 * or real): the busiest room and conversation of the last month, a user with a typical-to-busy friend list, a
 * selective interest and city, a common name prefix, the busiest forum category.
 * Used by the plan test and the benchmarks; these scans are for picking, never per request.
 */
import { FIRST_ASC, FIRST_DESC } from './cursor.ts';
import type { accessQueries } from './access.ts';
import type { peopleQueries } from './people.ts';
import type { productionQueries } from './queries.ts';
import type { Queryable } from './query.ts';

type AllQueries = typeof productionQueries & typeof peopleQueries & typeof accessQueries;

export interface Samples {
  now: Date;
  roomId: string;
  conversationId: string;
  userId: string;
  interest: string;
  state: string;
  city: string;
  namePrefix: string;
  categoryId: string;
  /** A message of the room a day old: a "recent cursor". */
  roomCursor: { t: string; id: string };
  conversationCursor: { t: string; id: string };
}

async function one<T>(db: Queryable, what: string, text: string, values: unknown[] = []): Promise<T> {
  const { rows } = await db.query<{ v: T }>({ text, values });
  if (rows.length === 0) throw new Error(`no data to sample ${what}`);
  return rows[0]!.v;
}

export async function pickSamples(db: Queryable): Promise<Samples> {
  const now = await one<Date>(db, 'now', 'SELECT max(created_at) AS v FROM messages WHERE created_at <= now()');
  const monthAgo = new Date(now.getTime() - 31 * 86_400_000);
  const busiest = (col: string) =>
    one<string>(
      db,
      col,
      `SELECT ${col} AS v FROM messages WHERE ${col} IS NOT NULL AND created_at >= $1 GROUP BY ${col} ORDER BY count(*) DESC, ${col} LIMIT 1`,
      [monthAgo],
    );
  const roomId = await busiest('room_id');
  const conversationId = await busiest('conversation_id');
  const cursorOf = async (col: string, id: string) => {
    const { rows } = await db.query<{ t: string; id: string }>(
      `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t, id::text AS id
         FROM messages WHERE ${col} = $1 AND created_at <= $2 ORDER BY created_at DESC, id DESC LIMIT 1`,
      [id, new Date(now.getTime() - 86_400_000)],
    );
    return rows[0] ?? { t: now.toISOString(), id: FIRST_DESC.id };
  };
  // a user whose friend list is in the busy part of the tail: 20 to 60 accepted friendships they made
  const userId = await one<string>(
    db,
    'user',
    `SELECT from_user_id AS v FROM relationships WHERE type = 'FRIEND' AND status = 'ACCEPTED'
      GROUP BY from_user_id HAVING count(*) BETWEEN 20 AND 60 ORDER BY count(*) DESC, from_user_id LIMIT 1`,
  ).catch(() =>
    one<string>(db, 'user', `SELECT from_user_id AS v FROM relationships GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`),
  );
  // an interest and a city held by about 0.05% and 0.5% of profiles: selective, as searches that page through an
  // index are (for a value many profiles share, walking the primary key and filtering is cheaper: see queries.ts)
  const interest = await one<string>(
    db,
    'interest',
    `WITH f AS (SELECT e AS v, count(*) AS n FROM profiles, jsonb_array_elements_text(interests) e GROUP BY e)
     SELECT v FROM f ORDER BY abs(n - (SELECT count(*) FROM profiles) * 0.0005), v LIMIT 1`,
  );
  const place = await db.query<{ state: string; city: string }>(
    `SELECT location_state AS state, location_city AS city FROM profiles WHERE location_state IS NOT NULL
      GROUP BY 1, 2 ORDER BY abs(count(*) - (SELECT count(*) FROM profiles) * 0.005), 1, 2 LIMIT 1`,
  );
  const namePrefix = await one<string>(
    db,
    'name prefix',
    `SELECT left(lower(name), 3) AS v FROM users GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`,
  );
  const categoryId = await one<string>(
    db,
    'category',
    `SELECT category_id AS v FROM forum_threads GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`,
  );
  return {
    now,
    roomId,
    conversationId,
    userId,
    interest,
    state: place.rows[0]?.state ?? 'CA',
    city: place.rows[0]?.city ?? 'Los Angeles',
    namePrefix,
    categoryId,
    roomCursor: await cursorOf('room_id', roomId),
    conversationCursor: await cursorOf('conversation_id', conversationId),
  };
}

const DAY = 86_400_000;
const ago = (s: Samples, days: number) => new Date(s.now.getTime() - days * DAY);

/** Parameters for each production query (queries.ts, people.ts, access.ts), as the read API passes them for a first or a recent page. */
export function sampleParams(s: Samples) {
  const limit = 51;
  const until = new Date(s.now.getTime() + 60_000);
  return {
    roomHistoryFirst: [s.roomId, limit, ago(s, 31), until],
    roomHistoryAfter: [
      s.roomId,
      s.roomCursor.t,
      s.roomCursor.id,
      limit,
      new Date(Date.parse(s.roomCursor.t) - 31 * DAY),
    ],
    conversationHistoryFirst: [s.conversationId, limit, ago(s, 31), until],
    conversationHistoryAfter: [
      s.conversationId,
      s.conversationCursor.t,
      s.conversationCursor.id,
      limit,
      new Date(Date.parse(s.conversationCursor.t) - 31 * DAY),
    ],
    friendsPage: [s.userId, FIRST_DESC.t, FIRST_DESC.id, limit],
    homeFeedPage: [s.userId, until.toISOString(), FIRST_DESC.id, limit, ago(s, 14)],
    profileById: [s.userId],
    searchByInterest: [JSON.stringify([s.interest]), FIRST_ASC.id, limit],
    searchByState: [s.state, FIRST_ASC.t, FIRST_ASC.id, limit],
    searchByCity: [s.state, s.city, FIRST_ASC.id, limit],
    searchByNamePrefix: [s.namePrefix, FIRST_ASC.t, FIRST_ASC.id, limit],
    forumCategoryPage: [s.categoryId, FIRST_DESC.t, FIRST_DESC.id, limit],
    forumFrontRows: [s.categoryId, 100],
    roomTopSenders: [s.roomId, ago(s, 7), s.now, 20],
    trendingThreads: [ago(s, 7), s.now, 5],
    followersPage: [s.userId, FIRST_DESC.t, FIRST_DESC.id, limit],
    followingPage: [s.userId, FIRST_DESC.t, FIRST_DESC.id, limit],
    profileDocument: [s.userId],
    blockedBy: [s.userId],
    roomMembership: [s.roomId, s.userId],
    conversationMembership: [s.conversationId, s.userId],
    categoryExists: [s.categoryId],
  } satisfies { [K in keyof AllQueries]: NonNullable<AllQueries[K]['params']> };
}
