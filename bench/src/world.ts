/**
 * The generated world's size and clock. Every table's rows are pure functions of (seed, now, counts) and a row
 * number, so the generator streams them without keeping more than a few typed arrays per table in memory.
 */
import { entityUuid, timeUuid } from './rng.ts';

export interface Counts {
  users: number;
  rooms: number;
  conversations: number;
  messages: number;
  statusUpdates: number;
  threads: number;
  forumPosts: number;
}

export const SCALES = {
  tiny: {
    users: 2_000,
    rooms: 40,
    conversations: 500,
    messages: 20_000,
    statusUpdates: 5_000,
    threads: 300,
    forumPosts: 5_000,
  },
  small: {
    users: 30_000,
    rooms: 300,
    conversations: 8_000,
    messages: 300_000,
    statusUpdates: 60_000,
    threads: 3_000,
    forumPosts: 40_000,
  },
  medium: {
    users: 200_000,
    rooms: 2_000,
    conversations: 50_000,
    messages: 2_000_000,
    statusUpdates: 500_000,
    threads: 20_000,
    forumPosts: 200_000,
  },
  large: {
    users: 500_000,
    rooms: 8_000,
    conversations: 150_000,
    messages: 8_000_000,
    statusUpdates: 2_000_000,
    threads: 80_000,
    forumPosts: 800_000,
  },
  full: {
    users: 1_000_000,
    rooms: 20_000,
    conversations: 300_000,
    messages: 20_000_000,
    statusUpdates: 5_000_000,
    threads: 200_000,
    forumPosts: 2_000_000,
  },
} as const satisfies Record<string, Counts>;

export type ScaleName = keyof typeof SCALES;
export const isScale = (s: string): s is ScaleName => Object.hasOwn(SCALES, s);

export const DAY = 86_400_000;
/** Messages and forum posts go back this far; status updates one year; accounts three years. */
export const HISTORY_MS = 548 * DAY;
export const STATUS_MS = 365 * DAY;
export const ACCOUNTS_MS = 3 * 365 * DAY;
/** Share of messages that are direct messages (the rest are in rooms). */
export const DM_SHARE = 0.3;

/** Entity kinds, so ids of different tables never collide. */
export const KIND = { user: 1, room: 2, conversation: 3, category: 5, thread: 6 } as const;
/** Salts for the time-ordered ids of the history tables. */
export const SALT = { message: 11, status: 12, post: 13, relationship: 14 } as const;

export interface World {
  readonly seed: number;
  /** Unix ms: the generated history ends here (rows are never in the future). */
  readonly now: number;
  readonly counts: Counts;
}

export function makeWorld(seed: number, now: number, counts: Counts): World {
  if (counts.users < 10) throw new Error('at least 10 users');
  const c = { ...counts, rooms: Math.max(1, counts.rooms), conversations: Math.max(1, counts.conversations) };
  // every thread has its opening post, so there are at least as many posts as threads
  c.threads = Math.min(c.threads, c.forumPosts);
  return { seed: seed >>> 0, now, counts: c };
}

export const userId = (w: World, k: number) => entityUuid(w.seed, KIND.user, k);
export const roomId = (w: World, r: number) => entityUuid(w.seed, KIND.room, r);
export const conversationId = (w: World, c: number) => entityUuid(w.seed, KIND.conversation, c);
/**
 * Relationship ids are time-ordered (v7) in load order, as an application minting v7 ids writes them: the primary
 * key then fills from its right edge. Scattered v4 ids made this the slowest table to load at the large scale
 * (12k rows/s, each insert touching a random leaf of a growing index).
 */
export const relationshipId = (w: World, n: number) => timeUuid(w.seed ^ SALT.relationship, w.now - ACCOUNTS_MS + n, n);
export const categoryId = (w: World, n: number) => entityUuid(w.seed, KIND.category, n);
export const threadId = (w: World, t: number) => entityUuid(w.seed, KIND.thread, t);
export const historyId = (w: World, salt: number, ms: number, n: number) => timeUuid(w.seed ^ salt, ms, n);

export const iso = (ms: number) => new Date(Math.floor(ms)).toISOString();

/** User k joined at this time: early numbers joined first (and are the popular ones: Zipf rank = k). */
export const userCreatedMs = (w: World, k: number) => w.now - ACCOUNTS_MS + (k / w.counts.users) * (ACCOUNTS_MS - DAY);

/** The oldest row of any history table: partitions must exist from this period on. */
export const historyStart = (w: World) => w.now - HISTORY_MS;

/** A step coprime to n, for walking distinct users (base + j * step) mod n. */
export function coprimeStep(n: number, from: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let s = Math.max(1, Math.floor(from) % n);
  while (gcd(s, n) !== 1) s++;
  return s;
}

/**
 * The j-th distinct user from `base` (j < users): how room members and group conversations are chosen. Exact in
 * doubles while users * step < 2^53.
 */
export const walkUser = (w: World, base: number, j: number, step: number) => (base + j * step) % w.counts.users;
