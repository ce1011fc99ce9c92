/**
 * How a feed entry sorts. The database orders a feed by (created_at DESC, id DESC) with microseconds; a sorted set
 * orders by score, then by member bytes. So the score is the creation time in whole microseconds since the epoch
 * (an integer below 2^53 until the year 2255, so a double holds it exactly), and the member begins with the status
 * id (lowercase uuid text, whose byte order is Postgres's uuid order): equal times fall back to the id, and
 * ZREVRANGE walks the feed in exactly the order of the SQL query. The author follows the id in the member, so that
 * an unfollow can drop an author's entries without a database read.
 */
import { rowVersion, sequenceVersion } from './versions.ts';

const TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(?:Z|\+00:00)$/;

/** Not a time a feed entry can carry (a UTC timestamp with at most microseconds). */
export class FeedTimeError extends Error {
  readonly code = 'FEED_TIME_INVALID';
  readonly value: string;
  constructor(value: string) {
    super(`not a UTC timestamp with at most microseconds: ${value}`);
    this.name = 'FeedTimeError';
    this.value = value;
  }
}

/** `2026-11-28T13:33:03.123456Z` → 1795872783123456 (µs since the epoch, exact). */
export function timeToMicros(t: string): number {
  const m = TIME.exec(t);
  if (!m?.[1]) throw new FeedTimeError(t);
  const seconds = Date.parse(`${m[1]}Z`);
  if (Number.isNaN(seconds)) throw new FeedTimeError(t);
  return seconds * 1000 + Number((m[2] ?? '').padEnd(6, '0'));
}

const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
/** `YYYY-MM-DDT` by day since the epoch: a feed page formats ~20 times, over a few days */
const dayTexts = new Map<number, string>();

/**
 * The inverse, in the cursor's text (`cursor_t`: six digits of microseconds, `Z`). Formatted by hand from the day's
 * text: `Date#toISOString` per item was 3% of the read API's CPU on feed pages.
 */
export function microsToTime(micros: number): string {
  const seconds = Math.floor(micros / 1_000_000);
  const fraction = micros - seconds * 1_000_000;
  const day = Math.floor(seconds / 86_400);
  let date = dayTexts.get(day);
  if (date === undefined) {
    if (dayTexts.size >= 4096) dayTexts.clear();
    date = new Date(day * 86_400_000).toISOString().slice(0, 11);
    dayTexts.set(day, date);
  }
  let s = seconds - day * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${date}${TWO_DIGITS[h]}:${TWO_DIGITS[m]}:${TWO_DIGITS[s]}.${String(fraction).padStart(6, '0')}Z`;
}

const UUID_LENGTH = 36;

export const feedMember = (statusId: string, authorId: string) => `${statusId}:${authorId}`;

export function parseFeedMember(member: string): { statusId: string; authorId: string } {
  return { statusId: member.slice(0, UUID_LENGTH), authorId: member.slice(UUID_LENGTH + 1) };
}

/**
 * The sequence a rebuild writes with: after every event of a transaction that committed at or before `lsn` (the
 * replica's replay position read before the rebuild's snapshot), before every later one.
 */
export function buildSequence(lsn: bigint): string {
  return `${lsn.toString().padStart(20, '0')}9999999999`;
}

/** An event's `source.sequence` as a guard (30 digits), re-exported beside the feed's own for one import. */
export const eventSequence = sequenceVersion;
export const bodyVersion = rowVersion;

/** (t, id) pairs compare as the feed orders them: newer first; for sorting merged entries. */
export function newerFirst(a: { micros: number; id: string }, b: { micros: number; id: string }): number {
  if (a.micros !== b.micros) return b.micros - a.micros;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}
