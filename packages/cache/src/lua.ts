/**
 * The Lua of the guarded writes (`scripts.ts` says what each does and why). Each write shape is one Lua function,
 * written once and used two ways:
 *  - a script per shape, one write per call (`SCRIPTS`: the read API's fills, tests, `redis-benchmark`);
 *  - `APPLY_WRITES`, many writes of any shapes in one call, in the order given (`writeBatch`): a call costs the
 *    client one command instead of one per write, and Redis one script run. Every write is guarded by itself, as
 *    in its own script, and one that fails (a key of the wrong type, out of memory) answers its error while the
 *    others still apply, as they would each in their own script.
 */

/** `function(key, …)` of each shape; keys first, then the arguments, as in the shape's script. */
const FUNCTIONS = {
  putPart: `
local function putPart(key, versionField, payloadField, version, json, ttlMs)
  local found = redis.call('HMGET', key, 'deleted', versionField)
  if found[1] then return 0 end
  local current = found[2]
  if current and current >= version then return 0 end
  redis.call('HSET', key, versionField, version, payloadField, json)
  redis.call('PEXPIRE', key, ttlMs)
  return 1
end`,
  deleteDocument: `
local function deleteDocument(key, ttlMs)
  redis.call('DEL', key)
  redis.call('HSET', key, 'deleted', '1')
  redis.call('PEXPIRE', key, ttlMs)
  return 1
end`,
  removePart: `
local function removePart(key, versionField, payloadField, version)
  local current = redis.call('HGET', key, versionField)
  if current and current > version then return 0 end
  redis.call('HDEL', key, payloadField)
  redis.call('HSET', key, versionField, version)
  return 1
end`,
  setMember: `
local function setMember(key, member, sequence, value)
  local current = redis.call('HGET', key, member)
  if current and string.sub(current, 1, 30) >= sequence then return 0 end
  if value == '-' then
    redis.call('HSET', key, member, sequence .. '-')
  else
    redis.call('HSET', key, member, sequence .. '|' .. value)
  end
  return 1
end`,
  addMessage: `
local function addMessage(recent, bodies, id, score, version, json, cap, edit)
  local current = redis.call('HGET', bodies, id)
  if current and (current == '~' or string.sub(current, 1, 20) >= version) then return 0 end
  if edit == 'true' and not current then
    local oldest = redis.call('ZRANGE', recent, 0, 0, 'WITHSCORES')
    if #oldest == 0 or tonumber(score) < tonumber(oldest[2]) then return 0 end
  end
  redis.call('HSET', bodies, id, version .. '|' .. json)
  redis.call('ZADD', recent, score, id)
  local over = redis.call('ZCARD', recent) - tonumber(cap)
  if over > 0 then
    -- the lowest scores (ties: the lowest ids), as a rank range would take them; one call each to drop
    local popped = redis.call('ZPOPMIN', recent, over)
    local old = {}
    for i = 1, #popped, 2 do old[#old + 1] = popped[i] end
    redis.call('HDEL', bodies, unpack(old))
  end
  return 1
end`,
  deleteMessage: `
local function deleteMessage(recent, bodies, id)
  redis.call('ZREM', recent, id)
  redis.call('HSET', bodies, id, '~')
  return 1
end`,
  rankPut: `
local function rankPut(list, bodies, lease, id, score, version, json, cap)
  if redis.call('EXISTS', list) == 0 then
    redis.call('DEL', lease)
    return 0
  end
  local floor = redis.call('ZSCORE', list, '~floor')
  if not floor then
    redis.call('DEL', list, bodies, lease)
    return 0
  end
  local current = redis.call('HGET', bodies, id)
  if current and (current == '~' or string.sub(current, 1, 20) >= version) then return 0 end
  if tonumber(score) <= tonumber(floor) then
    redis.call('ZREM', list, id)
    redis.call('HDEL', bodies, id)
    return 1
  end
  redis.call('HSET', bodies, id, version .. '|' .. json)
  redis.call('ZADD', list, score, id)
  local over = redis.call('ZCARD', list) - 1 - tonumber(cap)
  if over > 0 then
    redis.call('ZREM', list, '~floor')
    local old = redis.call('ZRANGE', list, 0, over - 1)
    redis.call('ZREMRANGEBYRANK', list, 0, over - 1)
    for _, old_id in ipairs(old) do redis.call('HDEL', bodies, old_id) end
    local lowest = redis.call('ZRANGE', list, 0, 0, 'WITHSCORES')
    redis.call('ZADD', list, lowest[2], '~floor')
  end
  return 1
end`,
  rankDelete: `
local function rankDelete(list, bodies, lease, id)
  if redis.call('EXISTS', list) == 0 then
    redis.call('DEL', lease)
    return 0
  end
  redis.call('ZREM', list, id)
  redis.call('HSET', bodies, id, '~')
  return 1
end`,
};

export type Shape = keyof typeof FUNCTIONS;

/** A shape's script for one write: its function, called with KEYS and ARGV in order. */
function single(shape: Shape, keys: number, args: number): string {
  const params = [
    ...Array.from({ length: keys }, (_, i) => `KEYS[${i + 1}]`),
    ...Array.from({ length: args }, (_, i) => `ARGV[${i + 1}]`),
  ];
  return `${FUNCTIONS[shape]}\nreturn ${shape}(${params.join(', ')})`;
}

export const SINGLE_WRITE_LUA: Record<Shape, string> = {
  putPart: single('putPart', 1, 5),
  deleteDocument: single('deleteDocument', 1, 1),
  removePart: single('removePart', 1, 3),
  setMember: single('setMember', 1, 3),
  addMessage: single('addMessage', 2, 6),
  deleteMessage: single('deleteMessage', 2, 1),
  rankPut: single('rankPut', 3, 5),
  rankDelete: single('rankDelete', 3, 1),
};

/**
 * Op codes of `APPLY_WRITES`: ARGV holds, for each write, its code then its arguments (as the shape's script takes
 * them); KEYS holds each write's keys in the same order. `H` is a plain HDEL of the fields that follow their count.
 */
export const OP = {
  putPart: 'P',
  deleteDocument: 'D',
  removePart: 'R',
  setMember: 'M',
  addMessage: 'A',
  deleteMessage: 'X',
  rankPut: 'K',
  rankDelete: 'Q',
  hdel: 'H',
} as const;

/**
 * Applies the writes in order, each in a protected call (Lua's pcall), and answers one reply per write: the
 * shape's own integer, or the error's text as a string (no write answers a string otherwise).
 */
export const APPLY_WRITES = `${Object.values(FUNCTIONS).join('\n')}
local function hdelFields(key, count, a)
  return redis.call('HDEL', key, unpack(ARGV, a, a + count - 1))
end
local replies = {}
local k, a, n = 1, 1, #ARGV
while a <= n do
  local op = ARGV[a]
  local ok, reply
  if op == '${OP.putPart}' then
    ok, reply = pcall(putPart, KEYS[k], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5])
    k, a = k + 1, a + 6
  elseif op == '${OP.setMember}' then
    ok, reply = pcall(setMember, KEYS[k], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
    k, a = k + 1, a + 4
  elseif op == '${OP.addMessage}' then
    ok, reply = pcall(addMessage, KEYS[k], KEYS[k + 1], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6])
    k, a = k + 2, a + 7
  elseif op == '${OP.deleteMessage}' then
    ok, reply = pcall(deleteMessage, KEYS[k], KEYS[k + 1], ARGV[a + 1])
    k, a = k + 2, a + 2
  elseif op == '${OP.rankPut}' then
    ok, reply = pcall(rankPut, KEYS[k], KEYS[k + 1], KEYS[k + 2], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5])
    k, a = k + 3, a + 6
  elseif op == '${OP.rankDelete}' then
    ok, reply = pcall(rankDelete, KEYS[k], KEYS[k + 1], KEYS[k + 2], ARGV[a + 1])
    k, a = k + 3, a + 2
  elseif op == '${OP.deleteDocument}' then
    ok, reply = pcall(deleteDocument, KEYS[k], ARGV[a + 1])
    k, a = k + 1, a + 2
  elseif op == '${OP.removePart}' then
    ok, reply = pcall(removePart, KEYS[k], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
    k, a = k + 1, a + 4
  elseif op == '${OP.hdel}' then
    local count = tonumber(ARGV[a + 1])
    ok, reply = pcall(hdelFields, KEYS[k], count, a + 2)
    k, a = k + 1, a + 2 + count
  else
    return redis.error_reply('ERR applyWrites: unknown op ' .. tostring(op) .. ' at ARGV[' .. a .. ']')
  end
  if ok then
    replies[#replies + 1] = reply
  elseif type(reply) == 'table' then
    replies[#replies + 1] = tostring(reply.err)
  else
    replies[#replies + 1] = tostring(reply)
  end
end
return replies`;
