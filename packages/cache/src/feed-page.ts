/**
 * The read of a home feed's page from the store Redis in one round trip: whether the feed is built (else whether
 * its owner is inactive), and if built, the entries at or below the page's upper bound, whether it was trimmed, and
 * the pulled authors to merge. One script over the owner's keys (one hash tag, `feed-keys.ts`), where the read API
 * sent five commands in three round trips; the pulled authors' lists (other tags) are read after it, in pipelines.
 */
import type { Redis } from 'ioredis';
import type { FeedKeyspace } from './feed-keys.ts';
import { presentMembers } from './scripts.ts';

// KEYS: guards, inactive, feed, pulls. ARGV: upper (µs or +inf), want, the cursor's own score ('' without a cursor).
// → {0, inactive} not built | {1, want (with the cursor's ties), trimmed, {member, score, …}, {author, value, …}}
const READ_FEED_PAGE = `
if redis.call('HEXISTS', KEYS[1], '@built') == 0 then
  return {0, redis.call('EXISTS', KEYS[2])}
end
local want = tonumber(ARGV[2])
-- entries with the cursor's own time come back too (the caller breaks ties by id): fetch enough to cover them
if ARGV[3] ~= '' then want = want + redis.call('ZCOUNT', KEYS[3], ARGV[3], ARGV[3]) end
local entries = redis.call('ZRANGE', KEYS[3], ARGV[1], '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, want, 'WITHSCORES')
return {1, want, redis.call('HEXISTS', KEYS[1], '@trimmed'), entries, redis.call('HGETALL', KEYS[4])}`;

interface FeedPageCommands {
  readFeedPage(
    guards: string,
    inactive: string,
    feed: string,
    pulls: string,
    upper: string,
    want: string,
    tie: string,
  ): Promise<[0, number] | [1, number, number, string[], string[]]>;
}

/** Defined on first use: ioredis then sends EVALSHA, the text only when Redis does not know it yet. */
function commands(store: Redis): FeedPageCommands {
  if (!('readFeedPage' in store)) store.defineCommand('readFeedPage', { numberOfKeys: 4, lua: READ_FEED_PAGE });
  return store as unknown as FeedPageCommands;
}

export type FeedPageRead =
  | { built: false; inactive: boolean }
  | {
      built: true;
      /** entries asked for, with the cursor's ties */
      want: number;
      /** newest first, at most `want`: member (`<statusId>:<authorId>`) and score (µs) */
      entries: { member: string; micros: number }[];
      /** entries once left the feed at its cap: older ones are in the database only */
      trimmed: boolean;
      /** the pulled authors to merge: author → `f` (friend) | `p` (follower) */
      pulls: Map<string, string>;
    };

/**
 * A page's worth of a user's feed at or below `upper` (µs; `+inf` for the first page): `want` entries, plus those
 * sharing the cursor's own score `tie` when given.
 */
export async function readFeedPage(
  store: Redis,
  keys: FeedKeyspace,
  userId: string,
  opts: { upper: string; want: number; tie?: number },
): Promise<FeedPageRead> {
  const reply = await commands(store).readFeedPage(
    keys.guards(userId),
    keys.inactive(userId),
    keys.feed(userId),
    keys.pulls(userId),
    opts.upper,
    String(opts.want),
    opts.tie === undefined ? '' : String(opts.tie),
  );
  if (reply[0] === 0) return { built: false, inactive: reply[1] === 1 };
  const [, want, trimmed, flat, pulls] = reply;
  const entries: { member: string; micros: number }[] = [];
  for (let i = 0; i < flat.length; i += 2) entries.push({ member: flat[i] ?? '', micros: Number(flat[i + 1]) });
  const hash: Record<string, string> = {};
  for (let i = 0; i < pulls.length; i += 2) hash[pulls[i] ?? ''] = pulls[i + 1] ?? '';
  return { built: true, want, entries, trimmed: trimmed === 1, pulls: presentMembers(hash) };
}
