/** What clients see of each row: camelCase JSON, versions as numbers, never a password hash. */
import type { Prisma } from '@bgc/db/prisma';

type Row<T extends keyof Prisma.TypeMap['model']> = Prisma.TypeMap['model'][T]['payload']['scalars'];

// Prisma reads bigint columns as bigint, node-postgres as decimal strings
const v = (version: bigint | string) => Number(version);

export const presentUser = (u: Row<'User'>) => ({
  id: u.id,
  email: u.email,
  name: u.name,
  image: u.image,
  isActive: u.isActive,
  createdAt: u.createdAt,
  version: v(u.version),
});

export const presentProfile = (p: Row<'Profile'>) => ({
  userId: p.userId,
  bio: p.bio,
  image: p.image,
  locationCity: p.locationCity,
  locationState: p.locationState,
  interests: p.interests,
  roles: p.roles,
  updatedAt: p.updatedAt,
  version: v(p.version),
});

export const presentRelationship = (r: Row<'Relationship'>) => ({
  id: r.id,
  fromUserId: r.fromUserId,
  toUserId: r.toUserId,
  type: r.type,
  status: r.status,
  updatedAt: r.updatedAt,
  version: v(r.version),
});

export const presentRoom = (r: Row<'ChatRoom'>) => ({
  id: r.id,
  name: r.name,
  description: r.description,
  isPrivate: r.isPrivate,
  createdBy: r.createdBy,
  createdAt: r.createdAt,
  version: v(r.version),
});

export const presentMessage = (m: Row<'Message'>) => ({
  id: m.id,
  createdAt: m.createdAt,
  roomId: m.roomId,
  conversationId: m.conversationId,
  senderId: m.senderId,
  type: m.type,
  content: m.content,
  editedAt: m.editedAt,
  version: v(m.version),
});

/** A messages row as raw SQL returns it (snake_case). */
export interface MessageRow {
  id: string;
  created_at: Date;
  room_id: string | null;
  conversation_id: string | null;
  sender_id: string;
  type: string;
  content: string;
  edited_at: Date | null;
  version: bigint | string;
}

export const presentMessageRow = (m: MessageRow) => ({
  id: m.id,
  createdAt: m.created_at,
  roomId: m.room_id,
  conversationId: m.conversation_id,
  senderId: m.sender_id,
  type: m.type,
  content: m.content,
  editedAt: m.edited_at,
  version: v(m.version),
});

export const presentStatus = (s: Row<'StatusUpdate'>) => ({
  id: s.id,
  createdAt: s.createdAt,
  authorId: s.authorId,
  content: s.content,
  visibility: s.visibility,
  updatedAt: s.updatedAt,
  version: v(s.version),
});

export const presentThread = (t: Row<'ForumThread'>) => ({
  id: t.id,
  categoryId: t.categoryId,
  authorId: t.authorId,
  title: t.title,
  postCount: t.postCount,
  lastPostAt: t.lastPostAt,
  createdAt: t.createdAt,
  version: v(t.version),
});

export const presentPost = (p: Row<'ForumPost'>) => ({
  id: p.id,
  categoryId: p.categoryId,
  threadId: p.threadId,
  authorId: p.authorId,
  content: p.content,
  createdAt: p.createdAt,
  version: v(p.version),
});
