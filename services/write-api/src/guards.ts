/** Authorization rules shared by the routes, evaluated inside the write transaction. */
import { forbidden, notFound } from '@bgc/http-api/api-error';
import type { Tx } from './write-tx.ts';

/** Whether either user blocks the other. */
export async function blockedBetween(tx: Tx, a: string, b: string): Promise<boolean> {
  const n = await tx.relationship.count({
    where: {
      type: 'BLOCK',
      OR: [
        { fromUserId: a, toUserId: b },
        { fromUserId: b, toUserId: a },
      ],
    },
  });
  return n > 0;
}

/** `actor` may not reach `target` (message, friend, follow) when `target` blocks `actor` (or the reverse). */
export async function assertNotBlocked(tx: Tx, actor: string, target: string): Promise<void> {
  if (await blockedBetween(tx, actor, target)) throw forbidden('BLOCKED', 'one of you blocks the other');
}

export async function assertUserExists(tx: Tx, userId: string, field = 'userId'): Promise<void> {
  const found = await tx.user.findUnique({ where: { id: userId }, select: { isActive: true } });
  if (!found?.isActive) throw notFound('user', field);
}

export async function assertRoomMember(tx: Tx, roomId: string, userId: string): Promise<void> {
  const member = await tx.roomMember.findUnique({ where: { roomId_userId: { roomId, userId } } });
  if (member) return;
  const room = await tx.chatRoom.findUnique({ where: { id: roomId }, select: { id: true } });
  if (!room) throw notFound('room', 'roomId');
  throw forbidden('NOT_A_MEMBER', 'only members of the room may do this; join it first');
}

export async function assertParticipant(tx: Tx, conversationId: string, userId: string): Promise<void> {
  const p = await tx.conversationParticipant.findUnique({
    where: { conversationId_userId: { conversationId, userId } },
  });
  if (p) return;
  const c = await tx.conversation.findUnique({ where: { id: conversationId }, select: { id: true } });
  if (!c) throw notFound('conversation', 'conversationId');
  throw forbidden('NOT_A_PARTICIPANT', 'only participants of the conversation may do this');
}
