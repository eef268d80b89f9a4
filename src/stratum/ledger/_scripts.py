"""The Lua scripts that make a Redis ledger atomic: each runs whole on the server, alone.

An envelope named `key` lives in three Redis keys that share the hash tag `{key}` (so a
cluster keeps them on one shard):

- `<prefix>{key}`: a hash of integers — `limit_usd` and `spent_usd`/`reserved_usd` in
  nano-dollars (1e-9 USD), `limit_tokens`, `spent_tokens`, `reserved_tokens`, `unpriced`,
  and one `x:<axis>:<threshold>` field per threshold already crossed (so it fires once);
- `<prefix>{key}:leases`: a sorted set of open reservation ids scored by lease expiry (ms);
- `<prefix>{key}:grants`: a hash of open reservation id -> `"<usd nano>:<tokens>"`.

Every script first gives back the reservations whose lease expired (a worker that died
mid-call), then works on the live numbers. A script receives the three keys of every envelope
of one chain, so a reservation across nested shared envelopes is one atomic step. Limits of
`-1` mean "no limit on this axis". Counters are integers: doubles are exact below 2**53
nano-dollars (about nine million dollars).
"""

from __future__ import annotations

__all__ = ("RELEASE", "RENEW", "RESERVE", "SETTLE", "STATE")

_PRELUDE = r"""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS / 3
local function int(x) if x == 0 then return '0' end return string.format('%.0f', x) end
local function split(v)
  local sep = string.find(v, ':', 1, true)
  return tonumber(string.sub(v, 1, sep - 1)), tonumber(string.sub(v, sep + 1))
end
local function drop(h, z, g, id)
  local v = redis.call('HGET', g, id)
  if v then
    local usd, tokens = split(v)
    redis.call('HINCRBY', h, 'reserved_usd', int(-usd))
    redis.call('HINCRBY', h, 'reserved_tokens', int(-tokens))
    redis.call('HDEL', g, id)
  end
  redis.call('ZREM', z, id)
  return v
end
local function reap(h, z, g)
  local expired = redis.call('ZRANGEBYSCORE', z, '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(expired) do drop(h, z, g, id) end
end
local function totals(h)
  local s = redis.call('HMGET', h, 'spent_usd', 'spent_tokens', 'reserved_usd', 'reserved_tokens', 'unpriced')
  return {tonumber(s[1] or '0'), tonumber(s[2] or '0'), tonumber(s[3] or '0'), tonumber(s[4] or '0'),
          tonumber(s[5] or '0')}
end
"""

RESERVE = (
    _PRELUDE
    + r"""
-- ARGV: grant id, lease ms, input tokens, output cap (-1: none), min output, input nano,
--       nano per output token (-1: no price), then per envelope: limit_usd, limit_tokens
local id, lease = ARGV[1], tonumber(ARGV[2])
local input, out, minout = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local in_nano, per = tonumber(ARGV[6]), tonumber(ARGV[7])
local seen = {}
for i = 1, n do
  local h, z, g = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local lu, lt = ARGV[6 + 2 * i], ARGV[7 + 2 * i]
  local cur = redis.call('HMGET', h, 'limit_usd', 'limit_tokens')
  if not cur[1] then
    redis.call('HSET', h, 'limit_usd', lu, 'limit_tokens', lt)
  elseif cur[1] ~= lu or cur[2] ~= lt then
    return {'mismatch', i, cur[1], cur[2] or '-1'}
  end
  reap(h, z, g)
  local s = totals(h)
  seen[i] = s
  lu, lt = tonumber(lu), tonumber(lt)
  if lt >= 0 then
    local fit = lt - s[2] - s[4] - input
    if fit < minout then return {'exceeded', 'tokens', i, lt, s[2], s[4]} end
    if out < 0 or fit < out then out = fit end
  end
  if lu >= 0 then
    if per < 0 then return {'unpriced', i} end
    local left = lu - s[1] - s[3] - in_nano
    if per > 0 then
      local fit = math.floor(left / per)
      if fit < minout then return {'exceeded', 'usd', i, lu, s[1], s[3]} end
      if out < 0 or fit < out then out = fit end
    elseif left < 0 then
      return {'exceeded', 'usd', i, lu, s[1], s[3]}
    end
  end
end
if out < 0 then out = -1 end
local grant_out = math.max(out, 0)
local usd = 0
if per >= 0 then usd = in_nano + math.ceil(grant_out * per) end
local tokens = input + grant_out
local reply = {'ok', out, usd, tokens}
for i = 1, n do
  local h, z, g = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  redis.call('HINCRBY', h, 'reserved_usd', int(usd))
  redis.call('HINCRBY', h, 'reserved_tokens', int(tokens))
  redis.call('HSET', g, id, int(usd) .. ':' .. int(tokens))
  redis.call('ZADD', z, now + lease, id)
  local s = seen[i]
  table.insert(reply, {s[1], s[2], s[3] + usd, s[4] + tokens, s[5]})
end
return reply
"""
)

SETTLE = (
    _PRELUDE
    + r"""
-- ARGV: grant id, cost nano (-1: unpriced), tokens, then per envelope: k, k thresholds
local id, cost, used = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local reply = {'ok'}
local events = {}
local a = 4
for i = 1, n do
  local h, z, g = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  reap(h, z, g)
  drop(h, z, g, id)
  if cost >= 0 then
    redis.call('HINCRBY', h, 'spent_usd', int(cost))
  else
    redis.call('HINCRBY', h, 'unpriced', 1)
  end
  redis.call('HINCRBY', h, 'spent_tokens', int(used))
  local s = totals(h)
  local lim = redis.call('HMGET', h, 'limit_usd', 'limit_tokens')
  local lu, lt = tonumber(lim[1] or '-1'), tonumber(lim[2] or '-1')
  local k = tonumber(ARGV[a])
  for j = 1, k do
    local thr = ARGV[a + j]
    local f = tonumber(thr)
    if lu > 0 and s[1] >= lu * f and redis.call('HSETNX', h, 'x:usd:' .. thr, 1) == 1 then
      table.insert(events, {i, 'usd', thr, s[1], lu})
    end
    if lt > 0 and s[2] >= lt * f and redis.call('HSETNX', h, 'x:tokens:' .. thr, 1) == 1 then
      table.insert(events, {i, 'tokens', thr, s[2], lt})
    end
  end
  a = a + k + 1
  table.insert(reply, s)
end
table.insert(reply, events)
return reply
"""
)

RELEASE = (
    _PRELUDE
    + r"""
-- ARGV: grant id
local reply = {'ok'}
for i = 1, n do
  local h, z, g = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  reap(h, z, g)
  drop(h, z, g, ARGV[1])
  table.insert(reply, totals(h))
end
return reply
"""
)

RENEW = (
    _PRELUDE
    + r"""
-- ARGV: lease ms, then grant ids; extends the lease of every id still open
local lease = tonumber(ARGV[1])
local renewed = 0
for i = 1, n do
  local h, z, g = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  for j = 2, #ARGV do
    if redis.call('HEXISTS', g, ARGV[j]) == 1 then
      redis.call('ZADD', z, 'XX', now + lease, ARGV[j])
      renewed = renewed + 1
    end
  end
end
return renewed
"""
)

STATE = (
    _PRELUDE
    + r"""
-- no ARGV; one envelope: its totals, limits and open reservation count after reaping
local h, z, g = KEYS[1], KEYS[2], KEYS[3]
reap(h, z, g)
local s = totals(h)
local lim = redis.call('HMGET', h, 'limit_usd', 'limit_tokens')
return {s[1], s[2], s[3], s[4], s[5], lim[1] or '', lim[2] or '', redis.call('HLEN', g)}
"""
)
