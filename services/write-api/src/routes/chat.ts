/** Chat rooms, direct conversations, and the messages in them. */
import { z } from 'zod';
import { forbidden, notFound, ApiError } from '@bgc/http-api/api-error';
import { assertNotBlocked, assertParticipant, assertRoomMember, assertUserExists } from '../guards.ts';
import type { AnyRoute } from '../http.ts';
import { route, uuid } from '../http.ts';
import type { MessageRow } from '../present.ts';
import type { Tx } from '../write-tx.ts';
import { presentMessage, presentMessageRow, presentRoom } from '../present.ts';

/** Nothing matched "this id, sent by you": say which half failed. */
async function whyNotMine(tx: Tx, messageId: string, verb: string): Promise<never> {
  const exists = await tx.$queryRaw<unknown[]>`SELECT 1 FROM messages WHERE id = ${messageId}::uuid`;
  if (exists.length === 0) throw notFound('message', 'messageId');
  throw forbidden('NOT_YOURS', `only the sender may ${verb} a message`);
}

/**
 * Rows of a batched room send back to their requests, by (room, sender, type, content): requests with equal values
 * are interchangeable, so the answer does not depend on the order RETURNING yields rows in.
 */
function assignByValues(rows: MessageRow[], requests: readonly (readonly unknown[])[]): (MessageRow | undefined)[] {
  const byValues = new Map<string, MessageRow[]>();
  for (const row of rows) {
    const k = JSON.stringify([row.room_id, row.sender_id, row.type, row.content]);
    const list = byValues.get(k);
    if (list) list.push(row);
    else byValues.set(k, [row]);
  }
  return requests.map((values) => byValues.get(JSON.stringify(values))?.shift());
}

const roomParams = z.strictObject({ roomId: uuid('roomId') });
const conversationParams = z.strictObject({ conversationId: uuid('conversationId') });
const messageParams = z.strictObject({ messageId: uuid('messageId') });
const content = z.string().trim().min(1, { error: 'content must not be empty' }).max(10_000);

export const chatRoutes: AnyRoute[] = [
  route({
    method: 'post',
    path: '/v1/rooms',
    summary: 'Create a chat room; you are its owner',
    auth: true,
    body: z.strictObject({
      name: z.string().trim().min(1).max(100),
      description: z.string().max(2000).optional(),
      isPrivate: z.boolean().default(false),
    }),
    responses: { 201: 'created' },
    handler: async ({ body, userId, tx, writeThrough }) => {
      const room = await tx.chatRoom.create({ data: { ...body, createdBy: userId } });
      await tx.roomMember.create({ data: { roomId: room.id, userId, role: 'OWNER' } });
      writeThrough({ table: 'room_members', roomId: room.id, userId });
      return { status: 201, body: presentRoom(room) };
    },
  }),
  route({
    method: 'post',
    path: '/v1/rooms/:roomId/join',
    summary: 'Join a public room',
    auth: true,
    params: roomParams,
    responses: { 200: 'member', 403: 'PRIVATE_ROOM', 404: 'no such room' },
    handler: async ({ params, userId, tx, writeThrough }) => {
      const room = await tx.chatRoom.findUnique({ where: { id: params.roomId } });
      if (!room) throw notFound('room', 'roomId');
      if (room.isPrivate) throw forbidden('PRIVATE_ROOM', 'a private room is joined by invitation');
      const member = await tx.roomMember.upsert({
        where: { roomId_userId: { roomId: room.id, userId } },
        update: {},
        create: { roomId: room.id, userId },
      });
      writeThrough({ table: 'room_members', roomId: room.id, userId });
      return { status: 200, body: { roomId: member.roomId, userId: member.userId, role: member.role } };
    },
  }),
  route({
    method: 'post',
    path: '/v1/rooms/:roomId/leave',
    summary: 'Leave a room',
    auth: true,
    params: roomParams,
    responses: { 204: 'left', 404: 'not a member' },
    handler: async ({ params, userId, tx, writeThrough }) => {
      const { count } = await tx.roomMember.deleteMany({ where: { roomId: params.roomId, userId } });
      if (count === 0) throw notFound('your membership of this room', 'roomId');
      writeThrough({ table: 'room_members', roomId: params.roomId, userId });
      return { status: 204, body: null };
    },
  }),
  route({
    method: 'post',
    path: '/v1/rooms/:roomId/messages',
    summary: 'Send a message to a room you are a member of',
    auth: true,
    params: roomParams,
    body: z.strictObject({ content, type: z.enum(['TEXT', 'IMAGE']).default('TEXT') }),
    responses: { 201: 'sent', 403: 'NOT_A_MEMBER', 404: 'no such room' },
    // the hottest write, batched (`statement-batcher.ts`): concurrent sends become one autocommitted statement,
    // a call of `send_room_messages` (migration `…_send_room_messages_function.sql`, whose plan Postgres keeps):
    // members are filtered first, in request order, then each row that passed is inserted right after its own
    // request's trace message, so a refused send emits nothing and each row follows its own traceparent in the WAL.
    batched: {
      statement: {
        text: `
          SELECT id, created_at, room_id, conversation_id, sender_id, type, content, edited_at, version
            FROM send_room_messages($1::text[], $2::uuid[], $3::uuid[], $4::message_type[], $5::text[])`,
        assign: (rows, requests) => assignByValues(rows as MessageRow[], requests),
      },
      // uuids as Postgres prints them, so `assignByValues` matches the rows RETURNING gives back
      values: ({ params, body, userId }) => [params.roomId.toLowerCase(), userId, body.type, body.content],
      answer: (row) => ({ status: 201, body: presentMessageRow(row as MessageRow) }),
    },
    handler: async ({ params, body, userId, tx }) => {
      // with an Idempotency-Key, or when the one statement wrote nothing: the same insert, and when nothing was
      // inserted we look up why (no such room, or not a member)
      const [row] = await tx.$queryRaw<MessageRow[]>`
        INSERT INTO messages (room_id, sender_id, type, content)
        SELECT ${params.roomId}::uuid, ${userId}::uuid, ${body.type}::message_type, ${body.content}
         WHERE EXISTS (SELECT 1 FROM room_members WHERE room_id = ${params.roomId}::uuid AND user_id = ${userId}::uuid)
        RETURNING id, created_at, room_id, conversation_id, sender_id, type, content, edited_at, version`;
      if (!row) await assertRoomMember(tx, params.roomId, userId); // throws 404 or 403
      if (!row) throw new Error('unreachable: the membership check passed but nothing was inserted');
      return { status: 201, body: presentMessageRow(row) };
    },
  }),
  route({
    method: 'post',
    path: '/v1/conversations',
    summary: 'Start a direct conversation with one or more users',
    auth: true,
    body: z.strictObject({
      participantIds: z.array(uuid('participantIds[]')).min(1).max(50),
    }),
    responses: { 201: 'created', 403: 'BLOCKED', 404: 'a participant does not exist' },
    handler: async ({ body, userId, tx, writeThrough }) => {
      const others = [...new Set(body.participantIds)].filter((id) => id !== userId);
      if (others.length === 0) {
        throw new ApiError(400, 'NO_PARTICIPANTS', 'name at least one other user', { field: 'participantIds' });
      }
      for (const other of others) {
        await assertUserExists(tx, other, 'participantIds');
        await assertNotBlocked(tx, userId, other);
      }
      const conversation = await tx.conversation.create({ data: { createdBy: userId } });
      await tx.conversationParticipant.createMany({
        data: [userId, ...others].map((id) => ({ conversationId: conversation.id, userId: id })),
      });
      for (const id of [userId, ...others]) {
        writeThrough({ table: 'conversation_participants', conversationId: conversation.id, userId: id });
      }
      return { status: 201, body: { id: conversation.id, participantIds: [userId, ...others] } };
    },
  }),
  route({
    method: 'post',
    path: '/v1/conversations/:conversationId/messages',
    summary: 'Send a message to a conversation you take part in',
    auth: true,
    params: conversationParams,
    body: z.strictObject({ content }),
    responses: { 201: 'sent', 403: 'NOT_A_PARTICIPANT or BLOCKED', 404: 'no such conversation' },
    handler: async ({ params, body, userId, tx }) => {
      await assertParticipant(tx, params.conversationId, userId);
      const others = await tx.conversationParticipant.findMany({
        where: { conversationId: params.conversationId, userId: { not: userId } },
        select: { userId: true },
      });
      // a blocked user cannot message the blocker, whatever the size of the conversation
      for (const o of others) await assertNotBlocked(tx, userId, o.userId);
      const message = await tx.message.create({
        data: { conversationId: params.conversationId, senderId: userId, content: body.content },
      });
      await tx.conversation.update({
        where: { id: params.conversationId },
        data: { lastMessageAt: message.createdAt },
      });
      return { status: 201, body: presentMessage(message) };
    },
  }),
  route({
    method: 'patch',
    path: '/v1/messages/:messageId',
    summary: 'Edit a message you sent',
    auth: true,
    params: messageParams,
    body: z.strictObject({ content }),
    responses: { 200: 'edited', 403: 'NOT_YOURS', 404: 'no such message' },
    handler: async ({ params, body, userId, tx }) => {
      // by id alone: the partition key (created_at) is not the client's to know; timestamps have microseconds,
      // which a JavaScript Date would round away, so rows are never matched on them from here
      const [row] = await tx.$queryRaw<MessageRow[]>`
        UPDATE messages SET content = ${body.content}, edited_at = now()
         WHERE id = ${params.messageId}::uuid AND sender_id = ${userId}::uuid
        RETURNING id, created_at, room_id, conversation_id, sender_id, type, content, edited_at, version`;
      if (!row) await whyNotMine(tx, params.messageId, 'edit');
      return { status: 200, body: presentMessageRow(row as MessageRow) };
    },
  }),
  route({
    method: 'delete',
    path: '/v1/messages/:messageId',
    summary: 'Delete a message you sent',
    auth: true,
    params: messageParams,
    responses: { 204: 'deleted', 403: 'NOT_YOURS', 404: 'no such message' },
    handler: async ({ params, userId, tx }) => {
      const deleted = await tx.$executeRaw`
        DELETE FROM messages WHERE id = ${params.messageId}::uuid AND sender_id = ${userId}::uuid`;
      if (deleted === 0) await whyNotMine(tx, params.messageId, 'delete');
      return { status: 204, body: null };
    },
  }),
];
