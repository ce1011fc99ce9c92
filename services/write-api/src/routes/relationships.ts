/**
 * Friends, follows and blocks. A friendship is one row from the requester to the recipient (PENDING, then
 * ACCEPTED or DECLINED); a follow and a block are one ACCEPTED row from the actor. A block removes friendships
 * and follows in both directions, and while it stands neither side can friend or follow the other.
 */
import { z } from 'zod';
import { notFound, ApiError } from '@bgc/http-api/api-error';
import { conflict } from '../errors.ts';
import { assertNotBlocked, assertUserExists } from '../guards.ts';
import type { AnyRoute } from '../http.ts';
import { route, uuid } from '../http.ts';
import { presentRelationship } from '../present.ts';
import type { Tx } from '../write-tx.ts';
import type { CacheTarget } from '../write-through.ts';

const target = z.strictObject({ userId: uuid('userId') });
const other = z.strictObject({ userId: uuid('userId') });

function notSelf(actor: string, userId: string) {
  if (actor === userId) throw new ApiError(400, 'SELF_RELATIONSHIP', 'that is you', { field: 'userId' });
}

/**
 * The counts of both users, written through after the commit (the triggers changed them, or did nothing): each sees
 * their own profile's counts at once. Queued before the work; a request that fails writes nothing through.
 */
function bothCounts(writeThrough: (target: CacheTarget) => void, actor: string, userId: string) {
  writeThrough({ table: 'user_counts', userId: actor });
  if (userId !== actor) writeThrough({ table: 'user_counts', userId });
}

async function prepare(tx: Tx, actor: string, userId: string) {
  notSelf(actor, userId);
  await assertUserExists(tx, userId);
  await assertNotBlocked(tx, actor, userId);
}

export const relationshipRoutes: AnyRoute[] = [
  route({
    method: 'post',
    path: '/v1/friends/requests',
    summary: 'Ask a user to be friends (accepts at once if they already asked you)',
    auth: true,
    body: target,
    responses: { 201: 'requested', 200: 'they had asked you: now friends', 403: 'BLOCKED', 409: 'ALREADY_FRIENDS' },
    handler: async ({ body, userId: actor, tx, writeThrough }) => {
      bothCounts(writeThrough, actor, body.userId);
      await prepare(tx, actor, body.userId);
      const edges = await tx.relationship.findMany({
        where: {
          type: 'FRIEND',
          OR: [
            { fromUserId: actor, toUserId: body.userId },
            { fromUserId: body.userId, toUserId: actor },
          ],
        },
      });
      if (edges.some((e) => e.status === 'ACCEPTED'))
        throw conflict('ALREADY_FRIENDS', 'you are friends already', 'userId');
      const theirs = edges.find((e) => e.fromUserId === body.userId && e.status === 'PENDING');
      if (theirs) {
        const accepted = await tx.relationship.update({ where: { id: theirs.id }, data: { status: 'ACCEPTED' } });
        return { status: 200, body: presentRelationship(accepted) };
      }
      const mine = edges.find((e) => e.fromUserId === actor);
      if (mine?.status === 'PENDING') throw conflict('ALREADY_REQUESTED', 'you asked already', 'userId');
      const request = mine
        ? await tx.relationship.update({ where: { id: mine.id }, data: { status: 'PENDING' } })
        : await tx.relationship.create({
            data: { fromUserId: actor, toUserId: body.userId, type: 'FRIEND', status: 'PENDING' },
          });
      return { status: 201, body: presentRelationship(request) };
    },
  }),
  ...(['accept', 'decline'] as const).map((verb) =>
    route({
      method: 'post',
      path: `/v1/friends/requests/:userId/${verb}`,
      summary: `${verb === 'accept' ? 'Accept' : 'Decline'} the friend request that user sent you`,
      auth: true,
      params: other,
      responses: { 200: verb === 'accept' ? 'now friends' : 'declined', 404: 'no pending request from that user' },
      handler: async ({ params, userId: actor, tx, writeThrough }) => {
        bothCounts(writeThrough, actor, params.userId);
        if (verb === 'accept') await assertNotBlocked(tx, actor, params.userId);
        const pending = await tx.relationship.findFirst({
          where: { fromUserId: params.userId, toUserId: actor, type: 'FRIEND', status: 'PENDING' },
        });
        if (!pending) throw notFound('a pending friend request from this user', 'userId');
        const updated = await tx.relationship.update({
          where: { id: pending.id },
          data: { status: verb === 'accept' ? 'ACCEPTED' : 'DECLINED' },
        });
        return { status: 200, body: presentRelationship(updated) };
      },
    }),
  ),
  route({
    method: 'delete',
    path: '/v1/friends/:userId',
    summary: 'Unfriend (or withdraw your request)',
    auth: true,
    params: other,
    responses: { 204: 'done', 404: 'not friends' },
    handler: async ({ params, userId: actor, tx, writeThrough }) => {
      bothCounts(writeThrough, actor, params.userId);
      const { count } = await tx.relationship.deleteMany({
        where: {
          type: 'FRIEND',
          OR: [
            { fromUserId: actor, toUserId: params.userId },
            { fromUserId: params.userId, toUserId: actor, status: 'ACCEPTED' },
          ],
        },
      });
      if (count === 0) throw notFound('a friendship with this user', 'userId');
      return { status: 204, body: null };
    },
  }),
  ...(['FOLLOW', 'BLOCK'] as const).flatMap((type) => {
    const noun = type === 'FOLLOW' ? 'follows' : 'blocks';
    return [
      route({
        method: 'post',
        path: `/v1/${noun}`,
        summary: type === 'FOLLOW' ? 'Follow a user' : 'Block a user: ends friendships and follows both ways',
        auth: true,
        body: target,
        responses: { 201: 'done', 403: 'BLOCKED', 409: 'ALREADY_EXISTS' },
        handler: async ({ body, userId: actor, tx, writeThrough }) => {
          bothCounts(writeThrough, actor, body.userId);
          if (type === 'FOLLOW') await prepare(tx, actor, body.userId);
          else {
            notSelf(actor, body.userId);
            await assertUserExists(tx, body.userId);
            await tx.relationship.deleteMany({
              where: {
                type: { in: ['FRIEND', 'FOLLOW'] },
                OR: [
                  { fromUserId: actor, toUserId: body.userId },
                  { fromUserId: body.userId, toUserId: actor },
                ],
              },
            });
          }
          const row = await tx.relationship.create({
            data: { fromUserId: actor, toUserId: body.userId, type, status: 'ACCEPTED' },
          });
          return { status: 201, body: presentRelationship(row) };
        },
      }),
      route({
        method: 'delete',
        path: `/v1/${noun}/:userId`,
        summary: type === 'FOLLOW' ? 'Unfollow a user' : 'Unblock a user',
        auth: true,
        params: other,
        responses: { 204: 'done', 404: 'no such relationship' },
        handler: async ({ params, userId: actor, tx, writeThrough }) => {
          bothCounts(writeThrough, actor, params.userId);
          const { count } = await tx.relationship.deleteMany({
            where: { fromUserId: actor, toUserId: params.userId, type },
          });
          if (count === 0) throw notFound(`a ${type.toLowerCase()} of this user`, 'userId');
          return { status: 204, body: null };
        },
      }),
    ];
  }),
];
