"""The Lua script that applies one execution's envelopes atomically.

One call touches only the keys of ONE execution (one hash tag, so one Redis
Cluster slot); it returns what it counted and the writer adds that to the
global `P:stats`. Argument layout: `stepmetrics.processors.writes.reduce`.

Lua numbers are doubles: timestamps (~1.8e15 µs) and sequences stay exact,
but `tostring` would print them as `1.8e+15`, so everything written back is
the original argument string, never a formatted number.
"""

from __future__ import annotations

import hashlib
from typing import Final

APPLY_LUA: Final = r"""
-- Scripts are not rolled back on error: refuse before the first write if a
-- key has a foreign type, so a failed call leaves nothing (not even `applied`).
local types = {'hash', 'hash', 'hash', 'hash', 'hash', 'set'}
for i = 1, #KEYS do
  local want = types[i] or 'string'
  local got = redis.call('TYPE', KEYS[i]).ok
  if got ~= 'none' and got ~= want then
    return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' is a ' .. got .. ', not a ' .. want)
  end
end

local cap = tonumber(ARGV[3])
local n_env = tonumber(ARGV[4])
local n_lists = tonumber(ARGV[5])
local pos = 6 + n_lists

local function later(a, b)
  if a[1] ~= b[1] then return a[1] > b[1] end
  if a[2] ~= b[2] then return a[2] > b[2] end
  return a[3] > b[3]
end

local function hset_pairs(key, pairs)
  -- unpack() has a C-stack limit: write in slices.
  for i = 1, #pairs, 1000 do
    redis.call('HSET', key, unpack(pairs, i, math.min(i + 999, #pairs)))
  end
end

local best, best_names, pending = {}, {}, {}
local applied, dup, events = 0, 0, 0
local lo, lo_s, hi, hi_s = nil, nil, nil, nil
for _ = 1, n_env do
  local identity, n_ev = ARGV[pos], tonumber(ARGV[pos + 1])
  local e_lo, e_hi = tonumber(ARGV[pos + 2]), tonumber(ARGV[pos + 3])
  local ns, nl = tonumber(ARGV[pos + 4]), tonumber(ARGV[pos + 5])
  local e_lo_s, e_hi_s = ARGV[pos + 2], ARGV[pos + 3]
  pos = pos + 6
  if redis.call('SADD', KEYS[6], identity) == 1 then
    applied = applied + 1
    events = events + n_ev
    if lo == nil or e_lo < lo then lo, lo_s = e_lo, e_lo_s end
    if hi == nil or e_hi > hi then hi, hi_s = e_hi, e_hi_s end
    for _ = 1, ns do
      local name = ARGV[pos]
      local cand = {tonumber(ARGV[pos + 1]), tonumber(ARGV[pos + 2]),
                    tonumber(ARGV[pos + 3]), ARGV[pos + 4],
                    ARGV[pos + 1] .. ' ' .. ARGV[pos + 2] .. ' ' .. ARGV[pos + 3]}
      local cur = best[name]
      if cur == nil then
        best_names[#best_names + 1] = name
        best[name] = cand
      elseif later(cand, cur) then
        best[name] = cand
      end
      pos = pos + 5
    end
    for _ = 1, nl do
      local slot = tonumber(ARGV[pos])
      local p = pending[slot]
      if p == nil then
        pending[slot] = {ARGV[pos + 1], {ARGV[pos + 2]}}
      else
        p[2][#p[2] + 1] = ARGV[pos + 2]
      end
      pos = pos + 3
    end
  else
    dup = dup + 1
    pos = pos + 5 * ns + 3 * nl
  end
end

local dropped, appended, lowered = 0, 0, false
if applied > 0 then
  if #best_names > 0 then
    local stored = {}
    for i = 1, #best_names, 1000 do
      local part = redis.call('HMGET', KEYS[3],
                              unpack(best_names, i, math.min(i + 999, #best_names)))
      for j = 1, #part do stored[i + j - 1] = part[j] end
    end
    local values, orders = {}, {}
    for i, name in ipairs(best_names) do
      local cand, keep = best[name], true
      if stored[i] then
        local t, s, x = string.match(stored[i], '^(%d+) (%d+) (%d+)$')
        keep = later(cand, {tonumber(t), tonumber(s), tonumber(x)})
      end
      if keep then
        values[#values + 1] = name
        values[#values + 1] = cand[4]
        orders[#orders + 1] = name
        orders[#orders + 1] = cand[5]
      end
    end
    if #values > 0 then
      hset_pairs(KEYS[2], values)
      hset_pairs(KEYS[3], orders)
    end
  end
  for slot = 1, n_lists do
    local p = pending[slot]
    if p then
      local key, name = KEYS[6 + slot], ARGV[5 + slot]
      local room = cap - redis.call('STRLEN', key) / 8
      local kept, lost = 0, 0
      -- Append chunk by chunk: no concatenated copy of the whole batch.
      for _, chunk in ipairs(p[2]) do
        local n = #chunk / 8
        local take = math.max(0, math.min(n, room - kept))
        if take == n then
          redis.call('APPEND', key, chunk)
        elseif take > 0 then
          redis.call('APPEND', key, string.sub(chunk, 1, take * 8))
        end
        kept, lost = kept + take, lost + n - take
      end
      if kept > 0 then
        redis.call('HSETNX', KEYS[4], name, p[1])
        appended = appended + kept
      end
      if lost > 0 then
        redis.call('HINCRBY', KEYS[5], name, lost)
        dropped = dropped + lost
      end
    end
  end
  local meta = redis.call('HMGET', KEYS[1], 'created_us', 'updated_us')
  local fields = {'pipeline_name', ARGV[1]}
  if ARGV[2] ~= '' then
    fields[#fields + 1] = 'deployment_name'
    fields[#fields + 1] = ARGV[2]
  end
  lowered = meta[1] and lo < tonumber(meta[1])
  if not meta[1] or lowered then
    fields[#fields + 1] = 'created_us'
    fields[#fields + 1] = lo_s
  end
  if not meta[2] or hi > tonumber(meta[2]) then
    fields[#fields + 1] = 'updated_us'
    fields[#fields + 1] = hi_s
  end
  -- Readers cache what they render per execution at its version: every
  -- applied envelope adds one, a replay (skipped above) adds nothing. A new
  -- execution starts from the server clock (µs), so one re-created after a
  -- flush never repeats a version a reader saw before.
  if not meta[1] then
    local now = redis.call('TIME')
    fields[#fields + 1] = 'version'
    fields[#fields + 1] = now[1] .. string.format('%06d', tonumber(now[2]))
  end
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('HINCRBY', KEYS[1], 'version', applied)
end
-- When a late event lowered created_us, every index entry of the execution
-- needs the new score, not only those of this batch's names.
local scalar_names, list_names, names = {}, {}, {}
if lowered then
  scalar_names = redis.call('HKEYS', KEYS[2])
  list_names = redis.call('HKEYS', KEYS[4])
  names = redis.call('HMGET', KEYS[1], 'pipeline_name', 'deployment_name')
end
return {applied, dup, events, appended, dropped,
        redis.call('HGET', KEYS[1], 'created_us') or '', scalar_names, list_names, names}
"""

APPLY_SHA: Final = hashlib.sha1(APPLY_LUA.encode(), usedforsecurity=False).hexdigest()
