--[[
The exactly-once state of the apply script (`apply.lua`), kept in its own file:
scripts.py puts this text where apply.lua says `--#include dedup.lua`, so it
sees apply.lua's locals declared above that line (seq_key, applied_key,
max_producers, hset_pairs).
]]

-- Exactly-once state, O(producers) per execution: `seq_key` maps each
-- producer id to "hw mask": hw = its highest applied seq in E, mask = 32 bits,
-- bit i set while seq hw-1-i has NOT been applied yet (a hole). A seq
-- below hw - WINDOW counts as applied (a duplicate). A producer seen for the
-- first time has applied nothing here, so every seq of the window below its
-- first one is a hole (a retry that arrives after a later envelope still
-- applies). The SDK never has envelopes of one execution more than WINDOW
-- seqs apart in flight, so a retry never falls below the window.
local WINDOW = 32
local MAX_SEQ_DIGITS = 15  -- exact in a Lua double

-- A mask with the lowest n bits set (n clipped to 0..WINDOW).
local function low_bits(n)
  if n <= 0 then return 0 end
  if n >= WINDOW then return bit.bnot(0) end
  return bit.tobit(bit.lshift(1, n) - 1)
end

local function load_producer(dedup, pid)
  local st = dedup.state[pid]
  if st ~= nil then return st end
  local raw = redis.call('HGET', seq_key, pid)
  if raw then
    local hw_s, mask = string.match(raw, '^(%d+) (%-?%d+)$')
    st = {hw = tonumber(hw_s), hw_s = hw_s, mask = tonumber(mask)}
    dedup.state[pid] = st
  end
  return st
end

-- Mark seq s (a new producer's when st is nil) applied; returns the state.
local function advance(st, s, s_s)
  if st == nil then
    return {hw = s, hw_s = s_s, mask = low_bits(s)}
  end
  local d = s - st.hw
  local shifted = 0
  if d < WINDOW then shifted = bit.lshift(st.mask, d) end
  st.mask = bit.bor(shifted, low_bits(d - 1))
  st.hw, st.hw_s = s, s_s
  return st
end

-- 'new' (and recorded), 'duplicate', or the reason the envelope is refused.
local function admit(dedup, identity)
  local pid, s_s = string.match(identity, '^(.*):(%d+)$')
  if pid == nil or #s_s > MAX_SEQ_DIGITS then
    return 'seq of ' .. string.sub(identity, -40) .. ' is above 10^15 - 1, the largest allowed'
  end
  local s, st = tonumber(s_s), load_producer(dedup, pid)
  if st == nil then
    if dedup.n_producers >= max_producers then
      return 'the execution already has ' .. dedup.n_producers ..
             ' producers, the most allowed (STEPMETRICS_WORKER_MAX_PRODUCERS)'
    end
    dedup.n_producers = dedup.n_producers + 1
  elseif s <= st.hw then
    local i = st.hw - s - 1
    if i < 0 or i >= WINDOW or bit.band(st.mask, bit.lshift(1, i)) == 0 then
      return 'duplicate'
    end
    st.mask = bit.band(st.mask, bit.bnot(bit.lshift(1, i)))
    dedup.changed[pid] = true
    return 'new'
  end
  dedup.state[pid] = advance(st, s, s_s)
  dedup.changed[pid] = true
  return 'new'
end

-- The identities of the old `applied` set (before the seq hash) become
-- seq state once, the first time the execution is touched again; then the
-- set is deleted. One O(set size) pass per execution.
local function migrate_legacy(dedup)
  local old = redis.call('SMEMBERS', applied_key)
  if #old == 0 then return end
  local seqs = {}
  for _, identity in ipairs(old) do
    local pid, s_s = string.match(identity, '^(.*):(%d+)$')
    if pid and #s_s <= MAX_SEQ_DIGITS then
      seqs[#seqs + 1] = {tonumber(s_s), s_s, pid}
    end
  end
  table.sort(seqs, function(a, b) return a[1] < b[1] end)
  for _, e in ipairs(seqs) do
    local st = load_producer(dedup, e[3])
    if st == nil or e[1] > st.hw then
      dedup.state[e[3]] = advance(st, e[1], e[2])
    elseif st.hw - e[1] - 1 < WINDOW then
      st.mask = bit.band(st.mask, bit.bnot(bit.lshift(1, st.hw - e[1] - 1)))
    end
    dedup.changed[e[3]] = true
  end
  redis.call('DEL', applied_key)
end

local function open_dedup()
  local dedup = {state = {}, changed = {}, n_producers = 0}
  migrate_legacy(dedup)
  dedup.n_producers = redis.call('HLEN', seq_key)
  for pid in pairs(dedup.changed) do
    if redis.call('HEXISTS', seq_key, pid) == 0 then dedup.n_producers = dedup.n_producers + 1 end
  end
  return dedup
end

local function save_dedup(dedup)
  local fields = {}
  for pid in pairs(dedup.changed) do
    local st = dedup.state[pid]
    fields[#fields + 1] = pid
    fields[#fields + 1] = st.hw_s .. ' ' .. string.format('%d', st.mask)
  end
  if #fields > 0 then hset_pairs(seq_key, fields) end
end
