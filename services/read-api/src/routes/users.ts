/** Profiles and the lists of a user: friends, followers, following. */
import { z } from 'zod';
import type { Page } from '@bgc/queries/cursor';
import { follows, friends } from '@bgc/queries/page';
import type { FriendRow } from '@bgc/queries/queries';
import type { Queryable } from '@bgc/queries/query';
import { notFound } from '@bgc/http-api/api-error';
import type { AnyRoute } from '../http.ts';
import { pageQuery, route, uuid } from '../http.ts';
import { checkCursor, firstPage, pageBody } from '../pages.ts';
import type { ProfileDocument } from '../profiles.ts';
import type { ReadContext } from '../read-context.ts';
import type { Services } from '../services.ts';

const userParams = z.strictObject({ userId: uuid('userId') });

function presentProfile(doc: ProfileDocument, self: boolean) {
  const u = doc.user;
  const p = doc.profile ?? {};
  return {
    id: u.id,
    name: u.name,
    ...(self ? { email: u.email } : {}),
    image: p.image ?? u.image ?? null,
    bio: p.bio ?? null,
    locationCity: p.location_city ?? null,
    locationState: p.location_state ?? null,
    interests: p.interests ?? [],
    createdAt: u.created_at,
    lastActiveAt: u.last_active_at ?? null,
    counts: { friends: doc.counts.friends, followers: doc.counts.followers, following: doc.counts.following },
    versions: { user: Number(u.version), profile: p.version === undefined ? null : Number(p.version) },
  };
}

/**
 * The user's document, or a 404 when there is none, it is deactivated, or the user blocks the viewer. Whom the user
 * blocks is looked up only when its counts say it blocks anyone (about 1% of users in the generated data).
 */
async function visibleProfile(services: Services, read: ReadContext, userId: string) {
  const { doc, from } = await services.profiles.get(read, userId, services.flags.get('cache.profile'));
  if (!doc || doc.user.is_active === false) throw notFound('user', 'userId');
  if (doc.counts.blocking > 0 && (await services.visibility.blocksViewer(read, userId))) {
    throw notFound('user', 'userId');
  }
  return { doc, from };
}

type Kind = 'friends' | 'followers' | 'following';

const pageOf: Record<
  Kind,
  (db: Queryable, userId: string, cursor: string | null, limit: number) => Promise<Page<FriendRow>>
> = {
  friends: (db, userId, cursor, limit) => friends(db, userId, { cursor, limit }),
  followers: (db, userId, cursor, limit) => follows(db, 'followers', userId, { cursor, limit }),
  following: (db, userId, cursor, limit) => follows(db, 'following', userId, { cursor, limit }),
};

const presentPerson = (r: FriendRow) => ({ id: r.id, name: r.name, image: r.image, since: r.cursor_t });

const relationRoute = (kind: Kind) =>
  route({
    method: 'get',
    path: `/v1/users/:userId/${kind}`,
    summary: `A user's ${kind}, newest first, by keyset (cursor)`,
    params: userParams,
    query: z.strictObject(pageQuery),
    responses: { 200: 'a page: items, hasNext, next, totalEstimate', 404: 'no such user (or it blocks you)' },
    handler: async ({ params, query, read, services }) => {
      checkCursor(query.cursor, 'time');
      const { doc } = await visibleProfile(services, read, params.userId);
      const list = pageOf[kind];
      const page = await (query.cursor
        ? read.db().then((db) => list(db, params.userId, query.cursor ?? null, query.limit))
        : firstPage(services, read, {
            keyspace: kind,
            key: services.aside.relations(kind, params.userId),
            enabled: services.flags.get('cache.relations') === 'cache-aside',
            limit: query.limit,
            pageOf: (db, limit) => list(db, params.userId, null, limit),
          }));
      return { body: pageBody(page, presentPerson, doc.counts[kind]) };
    },
  });

export const userRoutes: AnyRoute[] = [
  route({
    method: 'get',
    path: '/v1/users/:userId',
    summary: 'A profile: the user, the profile and the counts of friends, followers and following',
    params: userParams,
    responses: { 200: 'the profile', 404: 'no such user (or it blocks you)' },
    handler: async ({ params, read, services }) => {
      const found = await visibleProfile(services, read, params.userId);
      read.cache = found.from;
      return { body: presentProfile(found.doc, params.userId === read.viewerId) };
    },
  }),
  relationRoute('friends'),
  relationRoute('followers'),
  relationRoute('following'),
];
