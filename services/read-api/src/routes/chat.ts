/** Room and conversation history: members and participants only. */
import { z } from 'zod';
import { history } from '@bgc/queries/page';
import { estimates } from '@bgc/queries/queries';
import type { AnyRoute } from '../http.ts';
import { pageQuery, route, uuid } from '../http.ts';
import { presentRow, recentPage } from '../history.ts';
import { checkCursor, estimated } from '../pages.ts';
import type { ReadContext } from '../read-context.ts';
import type { Services } from '../services.ts';

async function readHistory(
  services: Services,
  read: ReadContext,
  on: 'room' | 'conversation',
  id: string,
  query: { limit: number; cursor?: string | undefined },
) {
  checkCursor(query.cursor, 'time');
  if (on === 'room') await services.visibility.assertRoomMember(read, id);
  else await services.visibility.assertParticipant(read, id);
  const total = estimated(services, read, on === 'room' ? estimates.roomMessages : estimates.conversationMessages, [
    id,
  ] as [string]);
  total.catch(() => undefined); // awaited below; a failure before then must not go unhandled
  const keyspace = on === 'room' ? 'room_history' : 'conversation_history';
  if (!query.cursor && services.flags.get('history.source') === 'redis-first' && !read.fresh) {
    const keys =
      on === 'room'
        ? { recent: services.keys.roomRecent(id), bodies: services.keys.roomBodies(id) }
        : { recent: services.keys.conversationRecent(id), bodies: services.keys.conversationBodies(id) };
    const page = await recentPage(services, read, keys, query.limit);
    services.lookup(keyspace, page ? 'hit' : 'miss');
    read.cache = page ? 'hit' : 'miss';
    if (page) return { body: { ...page, totalEstimate: await total } };
  } else if (!query.cursor) {
    services.lookup(keyspace, 'bypass');
    read.cache = 'bypass';
  }
  const page = await history(await read.db(), on, id, { cursor: query.cursor ?? null, limit: query.limit });
  return {
    body: { items: page.items.map(presentRow), hasNext: page.hasNext, next: page.next, totalEstimate: await total },
  };
}

export const chatRoutes: AnyRoute[] = [
  route({
    method: 'get',
    path: '/v1/rooms/:roomId/messages',
    summary: 'Messages of a room, newest first, by keyset (members only)',
    params: z.strictObject({ roomId: uuid('roomId') }),
    query: z.strictObject(pageQuery),
    responses: { 200: 'a page of messages', 403: 'NOT_A_MEMBER', 404: 'no such room' },
    handler: ({ params, query, read, services }) => readHistory(services, read, 'room', params.roomId, query),
  }),
  route({
    method: 'get',
    path: '/v1/conversations/:conversationId/messages',
    summary: 'Messages of a conversation, newest first, by keyset (participants only)',
    params: z.strictObject({ conversationId: uuid('conversationId') }),
    query: z.strictObject(pageQuery),
    responses: { 200: 'a page of messages', 403: 'NOT_A_PARTICIPANT', 404: 'no such conversation' },
    handler: ({ params, query, read, services }) =>
      readHistory(services, read, 'conversation', params.conversationId, query),
  }),
];
