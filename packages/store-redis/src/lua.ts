import { PENDING_TOTP_LIFETIME_MS } from '@keyward/core'
import { PART } from './keys.js'
import { Script } from './script.js'

/**
 * Every write that must be atomic is one Lua script. Times are epoch milliseconds as strings.
 * Every comparison the contract defines uses the times keyward passes in, and a record expires
 * its lifetime as keyward gave it (expiresOn - createdOn) after it is written. Expiry at the
 * absolute expiresOn would hold keyward's clock against Redis's: a record from an injected
 * clock, or a host clock, behind Redis's would be dropped at once.
 *
 * Redis has no rollback: a script that fails after a write leaves that write. So each script
 * checks all of its numbers before its first write.
 */
const HELPERS = `
local function number(value)
  local n = tonumber(value)
  -- tonumber accepts 'nan' and 'inf' (NaN is the one value not equal to itself).
  if n and n == n and math.abs(n) ~= math.huge then return n end
end
local function integer(value)
  local n = number(value)
  if n and n == math.floor(n) then return n end
end
local function invalid(what)
  return redis.error_reply('ERR keyward: ' .. what .. ' is not a valid number')
end
-- An index lives as long as its longest-lived member: its TTL only ever grows.
local function keep_for(key, ttl)
  local left = redis.call('PTTL', key)
  if left == -1 or left < ttl then redis.call('PEXPIRE', key, ttl) end
end
-- An index's members outlive what they name (each expires by its own TTL): a few are checked at
-- each write and dropped once gone, so that the index stays about the size of what is alive.
local function drop_gone(index, key_of)
  for _, member in ipairs(redis.call('SRANDMEMBER', index, 3)) do
    if redis.call('EXISTS', key_of .. member) == 0 then redis.call('SREM', index, member) end
  end
end
-- A user's set of families, kept as long as the longest-lived of them.
local function index_family(prefix, user_id, family_id, ttl)
  local families = prefix .. '${PART.userFamilies}' .. user_id
  drop_gone(families, prefix .. '${PART.family}')
  redis.call('SADD', families, family_id)
  keep_for(families, ttl)
end
local function as_map(flat)
  local map = {}
  for i = 1, #flat, 2 do map[flat[i]] = flat[i + 1] end
  return map
end
`

const script = (body: string) => new Script(HELPERS + body)

/**
 * KEYS: key hash, digest index, user's sorted set. ARGV: id, userId, name, digest, preview,
 * createdOn, expiresOn, lastUsedOn ('' for none).
 */
export const insertKey = script(`
local created_on, expires_on = integer(ARGV[6]), integer(ARGV[7])
if not created_on or not expires_on or (ARGV[8] ~= '' and not integer(ARGV[8])) then
  return invalid('a key time')
end
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then
  -- The very same record again, as when ioredis resends a command whose reply was lost: stored.
  local stored = as_map(redis.call('HGETALL', KEYS[1]))
  local same = redis.call('GET', KEYS[2]) == ARGV[1]
  local fields = { 'id', 'userId', 'name', 'digest', 'preview', 'createdOn', 'expiresOn', 'lastUsedOn' }
  for i, field in ipairs(fields) do same = same and (stored[field] or '') == ARGV[i] end
  if same then return 1 end
  return redis.error_reply('ERR keyward: duplicate key record')
end
local ttl = expires_on - created_on
-- Expired as it was issued: Redis would drop it at once, so there is nothing to write.
if ttl <= 0 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'userId', ARGV[2], 'name', ARGV[3], 'digest', ARGV[4],
  'preview', ARGV[5], 'createdOn', ARGV[6], 'expiresOn', ARGV[7])
if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'lastUsedOn', ARGV[8]) end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('SET', KEYS[2], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
keep_for(KEYS[3], ttl)
return 1
`)

/** KEYS: digest index. ARGV: prefix. The record's fields, or nil. */
export const findKeyByDigest = script(`
local id = redis.call('GET', KEYS[1])
if not id then return nil end
return redis.call('HGETALL', ARGV[1] .. '${PART.key}' .. id)
`)

/** KEYS: user's sorted set. ARGV: prefix. Records oldest first; ids whose record expired are pruned. */
export const listKeys = script(`
local records = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local fields = redis.call('HGETALL', ARGV[1] .. '${PART.key}' .. id)
  if #fields > 0 then records[#records + 1] = fields else redis.call('ZREM', KEYS[1], id) end
end
return records
`)

/** ARGV: prefix, user id, 'id' or 'digest', the id or digest. The deleted record's fields, or nil. */
export const deleteKey = script(`
local prefix, user_id, by, value = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local id = value
if by == 'digest' then
  id = redis.call('GET', prefix .. '${PART.digest}' .. value)
  if not id then return nil end
end
local key = prefix .. '${PART.key}' .. id
local fields = redis.call('HGETALL', key)
if #fields == 0 then return nil end
local record = as_map(fields)
if record.userId ~= user_id or (by == 'digest' and record.digest ~= value) then return nil end
redis.call('DEL', key, prefix .. '${PART.digest}' .. record.digest)
redis.call('ZREM', prefix .. '${PART.userKeys}' .. user_id, id)
redis.call('PUBLISH', prefix .. '${PART.events}',
  cjson.encode({ type = 'key.deleted', keyId = id, digest = record.digest }))
return fields
`)

/** ARGV: prefix, then id and time pairs. A last-use time never moves backwards. */
export const recordKeyUsage = script(`
for i = 3, #ARGV, 2 do
  if not integer(ARGV[i]) then return invalid('a last-use time') end
end
for i = 2, #ARGV, 2 do
  local key = ARGV[1] .. '${PART.key}' .. ARGV[i]
  if redis.call('EXISTS', key) == 1 then
    local last = tonumber(redis.call('HGET', key, 'lastUsedOn'))
    if not last or last < tonumber(ARGV[i + 1]) then redis.call('HSET', key, 'lastUsedOn', ARGV[i + 1]) end
  end
end
return 0
`)

/** Tokens a revocation deletes at most: the rest of a long chain expire by their TTL. */
export const REVOKE_BATCH = 1_000

/** KEYS: token hash. ARGV: prefix. The token's fields, or nil when unknown or its family was revoked. */
export const findRefreshToken = script(`
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return nil end
local token = as_map(fields)
if redis.call('EXISTS', ARGV[1] .. '${PART.family}' .. token.familyId) == 0 then return nil end
return fields
`)

/** KEYS: token hash, family set. ARGV: the record's fields, then the prefix. */
export const insertRefreshToken = script(`
local created_on, expires_on = integer(ARGV[5]), integer(ARGV[6])
if not created_on or not expires_on then return invalid('a refresh token time') end
local ttl = expires_on - created_on
if ttl <= 0 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'digest', ARGV[1], 'familyId', ARGV[2], 'userId', ARGV[3],
  'createdOn', ARGV[5], 'expiresOn', ARGV[6])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'keyId', ARGV[4]) end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('SADD', KEYS[2], ARGV[1])
keep_for(KEYS[2], ttl)
index_family(ARGV[7], ARGV[3], ARGV[2], ttl)
return 1
`)

/**
 * KEYS: presented token's hash. ARGV: prefix, now, next digest, next created, next expires.
 * { status, fields of the presented token }. A spent token stays, marked with the successor it
 * was spent for, until it expires, so that presenting it again is recognised as reuse and
 * revokes the family: its set is deleted, and with it every token of the family, though only
 * REVOKE_BATCH of their hashes are (each lookup of a token checks its family's set).
 */
export const rotateRefreshToken = script(`
local prefix, next_digest = ARGV[1], ARGV[3]
local now, created_on, expires_on = integer(ARGV[2]), integer(ARGV[4]), integer(ARGV[5])
if not now or not created_on or not expires_on then return invalid('a refresh token time') end
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return { 'not_found' } end
local token = as_map(fields)
if tonumber(token.expiresOn) <= now then return { 'not_found' } end
-- The same rotation again (ioredis resends a command whose reply was lost): the same answer,
-- not reuse. Only keyward knows the successor, so no one else presents the same next digest.
local family = prefix .. '${PART.family}' .. token.familyId
-- A revoked family's set is gone; tokens of it that revoking left behind are refused.
if redis.call('EXISTS', family) == 0 then return { 'not_found' } end
if token.spentFor == next_digest then return { 'rotated', fields } end
if token.spentAt then
  -- A chain holds a token per rotation of its lifetime. Deleting them all here would hold Redis
  -- for as long as the chain is; the rest expire by their TTL, and UNLINK frees the set off
  -- Redis's main thread.
  for _, digest in ipairs(redis.call('SPOP', family, ${REVOKE_BATCH})) do
    redis.call('DEL', prefix .. '${PART.refresh}' .. digest)
  end
  redis.call('UNLINK', family)
  redis.call('DEL', KEYS[1])
  return { 'reused', fields }
end
redis.call('HSET', KEYS[1], 'spentAt', ARGV[2], 'spentFor', next_digest)
local ttl = expires_on - created_on
-- A successor expired as it was made is not stored, as insertRefreshToken would not store it.
if ttl > 0 then
  local successor = prefix .. '${PART.refresh}' .. next_digest
  redis.call('DEL', successor)
  redis.call('HSET', successor, 'digest', next_digest, 'familyId', token.familyId, 'userId', token.userId,
    'createdOn', ARGV[4], 'expiresOn', ARGV[5])
  if token.keyId then redis.call('HSET', successor, 'keyId', token.keyId) end
  redis.call('PEXPIRE', successor, ttl)
  redis.call('SADD', family, next_digest)
  keep_for(family, ttl)
  index_family(prefix, token.userId, token.familyId, ttl)
end
-- A family refreshed for years would otherwise keep every token it ever had.
drop_gone(family, prefix .. '${PART.refresh}')
return { 'rotated', fields }
`)

/**
 * KEYS: the user's set of families. ARGV: prefix. Revokes up to REVOKE_BATCH of the user's
 * families, as a reuse revokes one (its set goes: its tokens are refused, and expire by their
 * TTL); the number of families left to revoke, so that a user with more takes several calls,
 * none holding Redis for long.
 */
export const revokeUserFamilies = script(`
for _, id in ipairs(redis.call('SPOP', KEYS[1], ${REVOKE_BATCH})) do
  redis.call('UNLINK', ARGV[1] .. '${PART.family}' .. id)
end
return redis.call('SCARD', KEYS[1])
`)

/**
 * KEYS: TOTP hash. ARGV: the record's fields. 1 if stored, 0 if an enabled one is there. A pending
 * record lives PENDING_TOTP_LIFETIME_MS from this write (a replacement as long from its own), so
 * that an enrolment never confirmed goes by itself; enabling it removes the TTL.
 */
export const putPendingTotp = script(`
if not integer(ARGV[5]) or (ARGV[4] ~= '' and not integer(ARGV[4])) then return invalid('a TOTP field') end
if redis.call('HGET', KEYS[1], 'enabled') == '1' then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'userId', ARGV[1], 'sealedSecret', ARGV[2], 'enabled', ARGV[3],
  'createdOn', ARGV[5])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'lastStep', ARGV[4]) end
redis.call('PEXPIRE', KEYS[1], ${PENDING_TOTP_LIFETIME_MS})
return 1
`)

/**
 * KEYS: TOTP hash. ARGV: step, sealed secret, and the secret sealed again (optional). 0 if refused,
 * 1 if accepted by an enabled enrolment, 2 if accepted by a pending one (now enabled, and kept for
 * good: its TTL goes in the same script, so it can never expire as enabled).
 */
export const acceptTotpStep = script(`
local step = integer(ARGV[1])
if not step then return invalid('a TOTP step') end
if redis.call('HGET', KEYS[1], 'sealedSecret') ~= ARGV[2] then return 0 end
local last = tonumber(redis.call('HGET', KEYS[1], 'lastStep'))
if last and step <= last then return 0 end
local was_enabled = redis.call('HGET', KEYS[1], 'enabled') == '1'
redis.call('HSET', KEYS[1], 'lastStep', ARGV[1], 'enabled', '1', 'sealedSecret', ARGV[3] or ARGV[2])
if was_enabled then return 1 end
redis.call('PERSIST', KEYS[1])
return 2
`)

/**
 * KEYS: counter hash. ARGV: now, window. { count, resetAt }. The window is decided by the
 * given now; the hash's own TTL (one window, from the first hit) only cleans up.
 */
export const incrementCounter = script(`
local now, window = integer(ARGV[1]), number(ARGV[2])
if not now or not window then return invalid('a counter time or window') end
local reset_at = tonumber(redis.call('HGET', KEYS[1], 'resetAt'))
if not reset_at or reset_at <= now then
  reset_at = now + window
  redis.call('HSET', KEYS[1], 'count', 1, 'resetAt', string.format('%.0f', reset_at))
  redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.max(1, math.ceil(window))))
  return { 1, reset_at }
end
return { redis.call('HINCRBY', KEYS[1], 'count', 1), reset_at }
`)
