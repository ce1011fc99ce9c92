/**
 * The Lua of the feed writes (`feed-scripts.ts` says what each does). Every script but `feedAdd` takes the same four
 * keys of one user, all under the hash tag `{u:<id>}`: KEYS[1] the feed, KEYS[2] its guards, KEYS[3] its rebuild
 * lease, KEYS[4] its pulled authors. `feedAdd` adds one entry to the feeds of many users and builds their keys itself.
 *
 * The guard of a status in a feed is the CDC sequence (30 fixed-width digits, compared as strings: Redis's Lua
 * numbers are doubles) of the last event that decided it, with `+` (in the feed) or `-` (removed). A status without
 * a guard of its own is guarded by `@built`, the sequence the feed was built at: a rebuild reflects every event up
 * to it. A write whose sequence is not newer than the guard changes nothing, so duplicates, replays and a rebuild
 * racing the live fan-out all converge on the state of the newest event.
 *
 * An add to a built feed writes no guard for a status that has none (the common case, a new post: a hash field per
 * entry, half a feed's memory, and a call saved). Such an entry is guarded by `@built` only, so a removal older than
 * the add but newer than `@built` would still apply; none arrives after the add:
 *  - a replayed removal (a restart, a stale consumer's late write) was applied once before, in partition order
 *    before the add: it left a `-` guard (the add then found a guard and wrote its own `+` over it), or was refused
 *    by a guard at least as new (still there), or found the feed not kept (then `@built` is newer: a build reads the
 *    replica's position after taking its lease, past that event);
 *  - a first decision arriving late from another topic (a relationship's `feedReplaceAuthor`) is read from the
 *    replica after the add was acknowledged (chunks and builds take turns, `service.ts`): it removes only what a
 *    state at least as new as the add's has gone, which the newer event behind that state removes anyway.
 * A feed being built (no `@built` yet) gets every guard: its build compares the snapshot with them. So a `-` guard
 * never stands for a status in the feed, and the one case lost is the one `pruneRemovals` already gives up: a
 * removal whose mark was pruned, then the status re-added, then the removal replayed.
 *
 * A feed is kept only while it is built (`@built` present) or being built (the lease stands); otherwise a write is
 * skipped and the feed is rebuilt from the database when its owner reads it, so fan-out never leaves a fragment
 * that would look complete. What is written during a build expires with the lease unless the build finishes.
 */
const COMMON = `
local feed, guards, building, pulls = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

local function kept()
  return redis.call('HEXISTS', guards, '@built') == 1 or redis.call('EXISTS', building) == 1
end

local function guardOf(id)
  local g = redis.call('HGET', guards, id)
  if g then return string.sub(g, 1, 30) end
  return redis.call('HGET', guards, '@built')
end

local function newer(id, seq)
  local g = guardOf(id)
  return (not g) or g < seq
end

-- the \`over\` oldest entries leave, and their guards with them
local function dropOldest(over, trimmed)
  local popped = redis.call('ZPOPMIN', feed, over)
  local ids = {}
  for i = 1, #popped, 2 do ids[#ids + 1] = string.sub(popped[i], 1, 36) end
  for i = 1, #ids, 1000 do redis.call('HDEL', guards, unpack(ids, i, math.min(i + 999, #ids))) end
  -- the feed no longer holds everything older than its oldest entry: a reader paging past it reads the database
  if not trimmed then redis.call('HSET', guards, '@trimmed', '1') end
end

local function trim(cap)
  local over = redis.call('ZCARD', feed) - cap
  if over > 0 then dropOldest(over, false) end
end

-- removal marks are kept for as many statuses as the feed holds: beyond twice the cap, the older half goes (a
-- replay reaches back seconds, not thousands of removals)
local function pruneRemovals(cap)
  if redis.call('HLEN', guards) <= 2 * cap + 1 then return end
  local all = redis.call('HGETALL', guards)
  local removed = {}
  for i = 1, #all, 2 do
    local v = all[i + 1]
    if string.sub(v, 31, 31) == '-' then removed[#removed + 1] = { all[i], v } end
  end
  table.sort(removed, function(a, b) return a[2] < b[2] end)
  for i = 1, math.floor(#removed / 2) do redis.call('HDEL', guards, removed[i][1]) end
end

-- a feed being built lives as long as its lease (plus a minute); the feed and its pulled authors expire with
-- the guards
-- \`key\` (if it exists) expires when the guards do: their deadline itself, not their remaining time, which a
-- millisecond's tick between the two calls would shift
local function expireWithGuards(key)
  local at = redis.call('PEXPIRETIME', guards)
  if at > 0 and redis.call('EXISTS', key) == 1 then redis.call('PEXPIREAT', key, at) end
end

local function settle()
  if redis.call('HEXISTS', guards, '@built') == 0 then
    local ttl = redis.call('PTTL', building)
    if ttl > 0 then redis.call('PEXPIRE', guards, ttl + 60000) end
  end
  expireWithGuards(feed)
  expireWithGuards(pulls)
end

local function setPull(author, seq, value)
  local current = redis.call('HGET', pulls, author)
  if current and string.sub(current, 1, 30) >= seq then return 0 end
  if value == '-' then
    redis.call('HSET', pulls, author, seq .. '-')
  else
    redis.call('HSET', pulls, author, seq .. '|' .. value)
  end
  return 1
end
`;

/**
 * ARGV: statusId, member, score, sequence, cap, the shape of a user's keys (the feed's key before and after the user
 * id, then what the guards', the lease's and the pulled authors' keys add to it), then the user ids: one entry into
 * each of their feeds. Answers how many feeds it was new to. The keys are many users' (many hash tags, undeclared):
 * allowed because the store is a single Redis server (`REDIS_STORE_URL`, never a cluster), where a script may touch
 * any key; on a Redis Cluster this script could only be sent one user at a time.
 * One HMGET answers the guard and whether the feed is kept; a built feed's TTL, set by its build, holds unless this
 * add created its key (an empty built feed), which then takes the guards' deadline; the lease's settling is needed
 * only while the feed is being built.
 */
const ADD = `
local id, member, score, seq, cap = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local before, after, gs, bs, ps = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]

local function addOne()
  local g = redis.call('HMGET', guards, id, '@built', '@trimmed')
  local own, built = g[1], g[2]
  if not built then
    building, pulls = feed .. bs, feed .. ps
    if redis.call('EXISTS', building) == 0 then return 0 end
  end
  local guard = built
  if own then guard = string.sub(own, 1, 30) end
  if guard and guard >= seq then return 0 end
  local added = redis.call('ZADD', feed, score, member)
  -- the guard is written where one stood (a re-add after a removal) or the feed is being built: see the top
  if own or not built then redis.call('HSET', guards, id, seq .. '+') end
  -- only a new entry makes the feed longer, or creates its key
  if added == 1 then
    local n = redis.call('ZCARD', feed)
    if n > cap then dropOldest(n - cap, g[3]) end
    if built and n == 1 then expireWithGuards(feed) end
  end
  if not built then settle() end
  return added
end

local added = 0
for i = 11, #ARGV do
  feed = before .. ARGV[i] .. after
  guards = feed .. gs
  added = added + addOne()
end
return added`;

/** ARGV: statusId, member, sequence, cap. */
const REMOVE = `
local id, member, seq, cap = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if not kept() or not newer(id, seq) then return 0 end
local removed = redis.call('ZREM', feed, member)
redis.call('HSET', guards, id, seq .. '-')
pruneRemovals(cap)
settle()
return removed`;

/**
 * ARGV: author, sequence, cap, pull (`f`, `p`, `-` or `` for no change), then pairs (statusId, score): the author's
 * posts this user sees now. Entries of the author not among them leave; the given ones enter.
 */
const REPLACE_AUTHOR = `
local author, seq, cap, pull = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
if not kept() then return 0 end
local suffix = ':' .. author
local wanted = {}
for i = 5, #ARGV, 2 do wanted[ARGV[i]] = true end
local changed = 0
for _, m in ipairs(redis.call('ZRANGE', feed, 0, -1)) do
  if string.sub(m, 37) == suffix then
    local id = string.sub(m, 1, 36)
    if not wanted[id] and newer(id, seq) then
      redis.call('ZREM', feed, m)
      redis.call('HSET', guards, id, seq .. '-')
      changed = changed + 1
    end
  end
end
for i = 5, #ARGV, 2 do
  local id = ARGV[i]
  if newer(id, seq) then
    changed = changed + redis.call('ZADD', feed, ARGV[i + 1], id .. suffix)
    redis.call('HSET', guards, id, seq .. '+')
  end
end
if pull ~= '' then changed = changed + setPull(author, seq, pull) end
trim(cap)
pruneRemovals(cap)
settle()
return changed`;

/**
 * ARGV: sequence, cap, expireAtMs, entry count n, then n triples (statusId, authorId, score), then pairs
 * (authorId, `f`|`p`) of pulled authors. Builds the feed as the database had it at `sequence`, keeping what newer
 * events wrote meanwhile, marks it built, sets when it expires (its owner's activity deadline), ends the lease.
 */
const BUILD = `
local seq, cap, expireAt, n = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local last = 4 + 3 * n
local builtBefore = redis.call('HGET', guards, '@built')
for i = 5, last, 3 do
  local id = ARGV[i]
  local own = redis.call('HGET', guards, id)
  local guard = builtBefore
  if own then guard = string.sub(own, 1, 30) end
  if (not guard) or guard < seq then
    redis.call('ZADD', feed, ARGV[i + 2], id .. ':' .. ARGV[i + 1])
    -- as an add to a built feed (see the top): a status without a guard of its own is guarded by \`@built\`, which
    -- becomes this build's sequence below; one that had a guard (a write while building) gets this build's
    if own then redis.call('HSET', guards, id, seq .. '+') end
  end
end
for i = last + 1, #ARGV, 2 do setPull(ARGV[i], seq, ARGV[i + 1]) end
if (not builtBefore) or builtBefore < seq then redis.call('HSET', guards, '@built', seq) end
trim(cap)
redis.call('PEXPIREAT', guards, expireAt)
if redis.call('EXISTS', feed) == 1 then redis.call('PEXPIREAT', feed, expireAt) end
if redis.call('EXISTS', pulls) == 1 then redis.call('PEXPIREAT', pulls, expireAt) end
redis.call('DEL', building)
return 1`;

/** ARGV: author, sequence, value (`f`, `p` or `-`): one pulled author of this user. */
const PULL = `
if not kept() then return 0 end
local changed = setPull(ARGV[1], ARGV[2], ARGV[3])
settle()
return changed`;

/**
 * ARGV: expireAtMs. The owner's activity deadline moved (a sign-in): a built feed lives until then. A deadline in
 * the past (deactivated) drops the feed.
 */
const EXPIRE_AT = `
if redis.call('HEXISTS', guards, '@built') == 0 then return 0 end
local expireAt = tonumber(ARGV[1])
local now = redis.call('TIME')
if expireAt <= tonumber(now[1]) * 1000 then
  redis.call('DEL', feed, guards, pulls)
  return 1
end
redis.call('PEXPIREAT', guards, ARGV[1])
if redis.call('EXISTS', feed) == 1 then redis.call('PEXPIREAT', feed, ARGV[1]) end
if redis.call('EXISTS', pulls) == 1 then redis.call('PEXPIREAT', pulls, ARGV[1]) end
return 1`;

export const FEED_LUA = {
  feedAdd: COMMON + ADD,
  feedRemove: COMMON + REMOVE,
  feedReplaceAuthor: COMMON + REPLACE_AUTHOR,
  feedBuild: COMMON + BUILD,
  feedPull: COMMON + PULL,
  feedExpireAt: COMMON + EXPIRE_AT,
} as const;

export type FeedShape = keyof typeof FEED_LUA;

/** Keys each script declares: four of one user, none for `feedAdd` (it builds many users' keys from ARGV). */
export const FEED_KEY_COUNT: Record<FeedShape, number> = {
  feedAdd: 0,
  feedRemove: 4,
  feedReplaceAuthor: 4,
  feedBuild: 4,
  feedPull: 4,
  feedExpireAt: 4,
};
