/**
 * Chat history. The newest page comes from the projector's recent list when it holds enough: a sorted set of
 * message ids scored by creation time (milliseconds) and a hash of versioned bodies. The list is always a prefix of
 * the room's history (newest first; capped; a deleted message leaves it), so its first `limit + 1` entries are the
 * page and whether there is a next one. Two things send the read to the database instead: fewer entries than
 * that (a young list after an eviction, or a short history), or a body missing (the hash was evicted alone).
 *
 * Redis orders by milliseconds, the database by microseconds and then id: entries are re-sorted by the exact key,
 * after reading a few more than needed so that an entry of the same millisecond as the page's last cannot be
 * missed; when even those few are all of that millisecond, the database answers.
 */
import type { Page } from '@bgc/queries/cursor';
import { encodeCursor } from '@bgc/queries/cursor';
import type { MessageRow } from '@bgc/queries/queries';
import type { ProfileDocument, Row } from './profiles.ts';
import type { ReadContext } from './read-context.ts';
import type { Services } from './services.ts';

/** Entries read beyond `limit + 1`, for ties within a millisecond. */
const EXTRA = 10;

export interface Message {
  id: string;
  createdAt: string;
  roomId: string | null;
  conversationId: string | null;
  sender: { id: string; name: string | null; image: string | null; city: string | null };
  type: string;
  content: string;
  editedAt: string | null;
}

/** `2026-11-28T02:13:59.12Z` → `2026-11-28T02:13:59.120000Z`: the cursor's text, and comparable as a string. */
export function micros(t: string): string {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z$/.exec(t);
  if (!m?.[1]) throw new Error(`not a UTC timestamp: ${t}`);
  return `${m[1]}.${(m[2] ?? '').padEnd(6, '0')}Z`;
}

export const presentRow = (r: MessageRow): Message => ({
  id: r.id,
  createdAt: r.cursor_t,
  roomId: r.room_id,
  conversationId: r.conversation_id,
  sender: { id: r.sender_id, name: r.sender_name, image: r.sender_image, city: r.sender_city },
  type: r.type,
  content: r.content,
  editedAt: r.edited_at ? new Date(r.edited_at).toISOString() : null,
});

function presentBody(body: Row, senders: Map<string, ProfileDocument>): Message | undefined {
  const sender = senders.get(String(body.sender_id));
  if (!sender) return undefined;
  return {
    id: String(body.id),
    createdAt: micros(String(body.created_at)),
    roomId: (body.room_id as string | null) ?? null,
    conversationId: (body.conversation_id as string | null) ?? null,
    sender: {
      id: String(body.sender_id),
      name: (sender.user.name as string | undefined) ?? null,
      image: (sender.user.image as string | null | undefined) ?? null,
      city: (sender.profile?.location_city as string | null | undefined) ?? null,
    },
    type: String(body.type),
    content: String(body.content),
    editedAt: typeof body.edited_at === 'string' ? new Date(body.edited_at).toISOString() : null,
  };
}

/** The newest page from Redis, or undefined when Redis cannot answer it exactly. */
export async function recentPage(
  services: Services,
  read: ReadContext,
  keys: { recent: string; bodies: string },
  limit: number,
): Promise<Page<Message> | undefined> {
  const want = limit + 1;
  const entries = await services.redis.zrevrange(keys.recent, 0, want + EXTRA - 1, 'WITHSCORES');
  const fetched = entries.length / 2;
  if (fetched < want) return undefined;
  const ids = entries.filter((_, i) => i % 2 === 0);
  const lowestScore = Number(entries[entries.length - 1]);
  const stored = await services.redis.hmget(keys.bodies, ...ids);
  const bodies: Row[] = [];
  for (const s of stored) {
    if (s === null || s === '~') return undefined;
    bodies.push(JSON.parse(s.slice(s.indexOf('|') + 1)) as Row);
  }
  const keyed = bodies
    .map((b) => ({ b, t: micros(String(b.created_at)), id: String(b.id) }))
    .sort((x, y) => (x.t === y.t ? (x.id < y.id ? 1 : -1) : x.t < y.t ? 1 : -1));
  const page = keyed.slice(0, want);
  const boundary = page.at(-1);
  // entries not read score at most `lowestScore`: they cannot belong in the page if the page ends above it
  if (fetched === want + EXTRA && boundary && Date.parse(boundary.t) <= lowestScore) return undefined;
  const senders = new Map<string, ProfileDocument>();
  const senderIds = [...new Set(page.map((k) => String(k.b.sender_id)))];
  const mode = services.flags.get('cache.profile');
  const docs = await Promise.all(senderIds.map((id) => services.profiles.get(read, id, mode)));
  docs.forEach(({ doc }, i) => {
    if (doc) senders.set(senderIds[i] ?? '', doc);
  });
  const items: Message[] = [];
  for (const k of page.slice(0, limit)) {
    const m = presentBody(k.b, senders);
    if (!m) return undefined; // a sender the database would not join (deleted): let it answer
    items.push(m);
  }
  const hasNext = page.length > limit;
  const last = items.at(-1);
  return { items, hasNext, next: hasNext && last ? encodeCursor({ t: last.createdAt, id: last.id }) : null };
}
