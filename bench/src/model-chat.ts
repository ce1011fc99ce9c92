/**
 * Chat: rooms and their members, direct conversations and their participants, and messages in time order.
 *
 * Room r's popularity rank is r: its member count falls off as a power of r and messages pick rooms by Zipf, so
 * a few rooms hold a large share of the history (deep pages exist) and most rooms are quiet. Members of a room are
 * the distinct users base_r + j * step (mod users); senders are drawn among them by Zipf, so each room has its
 * regulars. Messages are generated in time order over 18 months with activity growing threefold, which also means
 * COPY fills one monthly partition after another.
 */
import { growthQuantile, hash32, Rng, unit } from './rng.ts';
import { sentence } from './model-people.ts';
import type { World } from './world.ts';
import {
  coprimeStep,
  conversationId,
  DAY,
  DM_SHARE,
  historyId,
  historyStart,
  HISTORY_MS,
  iso,
  roomId,
  SALT,
  userId,
  walkUser,
} from './world.ts';
import { WORDS } from './vocab.ts';

const N = '\\N';
export const ROOM_COLUMNS = 'id, name, description, is_private, created_by, created_at';
export const MEMBER_COLUMNS = 'room_id, user_id, role, joined_at';
export const CONVERSATION_COLUMNS = 'id, created_by, last_message_at, created_at';
export const PARTICIPANT_COLUMNS = 'conversation_id, user_id, joined_at';
export const MESSAGE_COLUMNS = 'id, created_at, room_id, conversation_id, sender_id, type, content';

/** Per-room and per-conversation facts, computed once (a few MB at full scale) and used by every message. */
export interface ChatTables {
  roomSize: Int32Array;
  roomBase: Int32Array;
  step: number;
  convBase: Int32Array;
  convStep: Int32Array;
  convSize: Int8Array;
  /** Unix ms of each conversation's first and last message (NaN when it has none): filled by planMessages(). */
  convFirst: Float64Array;
  convLast: Float64Array;
}

export function chatTables(w: World): ChatTables {
  const { users, rooms, conversations } = w.counts;
  const maxMembers = Math.max(2, Math.floor(users * 0.05));
  const t: ChatTables = {
    roomSize: new Int32Array(rooms),
    roomBase: new Int32Array(rooms),
    step: coprimeStep(users, users * 0.618034),
    convBase: new Int32Array(conversations),
    convStep: new Int32Array(conversations),
    convSize: new Int8Array(conversations),
    convFirst: new Float64Array(conversations).fill(NaN),
    convLast: new Float64Array(conversations).fill(NaN),
  };
  for (let r = 0; r < rooms; r++) {
    t.roomSize[r] = Math.max(2, Math.min(users, Math.floor(maxMembers / Math.pow(r + 1, 0.7))));
    t.roomBase[r] = hash32(w.seed, 201, r) % users;
  }
  for (let c = 0; c < conversations; c++) {
    const h = hash32(w.seed, 202, c);
    t.convSize[c] = unit(h) < 0.1 ? 3 + (hash32(h, 3) % 3) : 2;
    t.convBase[c] = hash32(h, 1) % users;
    t.convStep[c] = coprimeStep(users, 1 + (hash32(h, 2) % (users - 1)));
  }
  return t;
}

export const roomMember = (w: World, t: ChatTables, r: number, j: number) => walkUser(w, t.roomBase[r]!, j, t.step);
const participant = (w: World, t: ChatTables, c: number, j: number) =>
  (t.convBase[c]! + j * t.convStep[c]!) % w.counts.users;

/** Popular rooms are old; the newest rooms opened a few months ago. */
const roomCreatedMs = (w: World, r: number) => historyStart(w) - 30 * DAY + (r / w.counts.rooms) * HISTORY_MS * 0.8;

export function* rooms(w: World, t: ChatTables): Generator<string> {
  for (let r = 0; r < w.counts.rooms; r++) {
    const rng = new Rng(w.seed, 0x6000000 + r);
    const name = `${rng.pick(WORDS)} ${rng.pick(WORDS)} ${r}`;
    const description = rng.chance(0.6) ? sentence(rng, 5, 30) : N;
    const owner = userId(w, roomMember(w, t, r, 0));
    yield `${roomId(w, r)}\t${name}\t${description}\t${rng.chance(0.15) ? 't' : 'f'}\t${owner}\t${iso(roomCreatedMs(w, r))}\n`;
  }
}

export function* roomMembers(w: World, t: ChatTables): Generator<string> {
  for (let r = 0; r < w.counts.rooms; r++) {
    const created = roomCreatedMs(w, r);
    const size = t.roomSize[r]!;
    const moderators = Math.min(10, Math.floor(size / 50));
    const room = roomId(w, r);
    for (let j = 0; j < size; j++) {
      const role = j === 0 ? 'OWNER' : j <= moderators ? 'MODERATOR' : 'MEMBER';
      const joined = j === 0 ? created : created + unit(hash32(w.seed, 203, r, j)) * (w.now - created);
      yield `${room}\t${userId(w, roomMember(w, t, r, j))}\t${role}\t${iso(joined)}\n`;
    }
  }
}

export const countMembers = (t: ChatTables) => t.roomSize.reduce((a, b) => a + b, 0);
export const countParticipants = (t: ChatTables) => t.convSize.reduce((a, b) => a + b, 0);

export function* conversations(w: World, t: ChatTables): Generator<string> {
  for (let c = 0; c < w.counts.conversations; c++) {
    const first = t.convFirst[c]!;
    const created = Number.isNaN(first)
      ? historyStart(w) + unit(hash32(w.seed, 204, c)) * HISTORY_MS
      : first - unit(hash32(w.seed, 205, c)) * 3_600_000;
    const last = t.convLast[c]!;
    yield `${conversationId(w, c)}\t${userId(w, participant(w, t, c, 0))}\t${Number.isNaN(last) ? N : iso(last)}\t${iso(created)}\n`;
  }
}

export function* participants(w: World, t: ChatTables): Generator<string> {
  for (let c = 0; c < w.counts.conversations; c++) {
    const first = t.convFirst[c]!;
    const joined = iso(Number.isNaN(first) ? historyStart(w) : first - 3_600_000);
    for (let j = 0; j < t.convSize[c]!; j++) {
      yield `${conversationId(w, c)}\t${userId(w, participant(w, t, c, j))}\t${joined}\n`;
    }
  }
}

export interface MessagePlan {
  ms: number;
  /** room number, or -1 for a direct message */
  room: number;
  /** conversation number, or -1 for a room message */
  conversation: number;
  sender: number;
}

/**
 * The i-th message's time, place and sender, drawn from one sequential stream (content comes from another), so
 * a first pass can learn each conversation's first and last message and a second pass emits the same messages.
 */
export function* planMessages(w: World, t: ChatTables): Generator<MessagePlan> {
  const rng = new Rng(w.seed, 0x7000000);
  const { messages, rooms, conversations } = w.counts;
  const start = historyStart(w);
  const plan: MessagePlan = { ms: 0, room: -1, conversation: -1, sender: 0 };
  for (let i = 0; i < messages; i++) {
    plan.ms = Math.min(w.now - 1, start + HISTORY_MS * growthQuantile(i, messages, 3, rng.float()));
    if (rng.float() < DM_SHARE) {
      const c = rng.zipf(conversations, 0.9);
      plan.room = -1;
      plan.conversation = c;
      plan.sender = participant(w, t, c, rng.int(t.convSize[c]!));
    } else {
      const r = rng.zipf(rooms, 1);
      plan.room = r;
      plan.conversation = -1;
      plan.sender = roomMember(w, t, r, rng.zipf(t.roomSize[r]!, 1.1));
    }
    yield plan;
  }
}

/** First pass: each conversation's first and last message time. */
export function learnConversations(w: World, t: ChatTables): void {
  for (const p of planMessages(w, t)) {
    if (p.conversation < 0) continue;
    if (Number.isNaN(t.convFirst[p.conversation]!)) t.convFirst[p.conversation] = p.ms;
    t.convLast[p.conversation] = p.ms;
  }
}

export function* messages(w: World, t: ChatTables): Generator<string> {
  const text = new Rng(w.seed, 0x7100000);
  let i = 0;
  for (const p of planMessages(w, t)) {
    const k = text.float();
    const type = k < 0.95 ? 'TEXT' : k < 0.99 ? 'IMAGE' : 'SYSTEM';
    const content = type === 'IMAGE' ? `https://img.example.com/m/${i}.jpg` : sentence(text, 1, 25);
    const room = p.room >= 0 ? roomId(w, p.room) : N;
    const conv = p.conversation >= 0 ? conversationId(w, p.conversation) : N;
    yield `${historyId(w, SALT.message, p.ms, i)}\t${iso(p.ms)}\t${room}\t${conv}\t${userId(w, p.sender)}\t${type}\t${content}\n`;
    i++;
  }
}
