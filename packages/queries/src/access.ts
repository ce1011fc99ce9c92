/**
 * Who may read what: room membership, conversation participation, and whether a forum category exists (each
 * answers "no such thing" apart from "not yours", so the read API can say 404 or 403).
 */
import { query, type Uuid } from './query.ts';

/** Whether a user is a member of a room (and whether the room exists). */
export const roomMembership = query<[roomId: Uuid, userId: Uuid], { exists: boolean; member: boolean }>(
  'room_membership',
  // by the room's key or the user's index, whichever the planner finds narrower: both are one short range
  { indexes: ['chat_rooms_pkey'], anyOf: [['room_members_pkey', 'room_members_user_idx']] },
  `SELECT EXISTS (SELECT 1 FROM chat_rooms WHERE id = $1) AS exists,
          EXISTS (SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2) AS member`,
);

/** Whether a user takes part in a conversation (and whether it exists). */
export const conversationMembership = query<[conversationId: Uuid, userId: Uuid], { exists: boolean; member: boolean }>(
  'conversation_membership',
  {
    indexes: ['conversations_pkey'],
    anyOf: [['conversation_participants_pkey', 'conversation_participants_user_idx']],
  },
  `SELECT EXISTS (SELECT 1 FROM conversations WHERE id = $1) AS exists,
          EXISTS (SELECT 1 FROM conversation_participants WHERE conversation_id = $1 AND user_id = $2) AS member`,
);

/** Whether a forum category exists. forum_categories_pkey. */
export const categoryExists = query<[categoryId: Uuid], { exists: boolean }>(
  'category_exists',
  // categories are few (the site's sections): a one-page table is read whole, which the plan test allows below
  // its large-table size; forum_categories_pkey takes over if it grows
  { indexes: [] },
  `SELECT EXISTS (SELECT 1 FROM forum_categories WHERE id = $1) AS exists`,
);

/** Every query of this module, for the plan test. */
export const accessQueries = { roomMembership, conversationMembership, categoryExists } as const;
