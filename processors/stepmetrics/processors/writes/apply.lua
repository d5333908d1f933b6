--[[
Apply one execution's envelopes atomically; a replayed envelope changes nothing.

One call touches only the keys of ONE execution (one hash tag, so one Redis
Cluster slot); it returns what it counted and the writer adds that to the
global `P:stats`. Called by stepmetrics.processors.writes.writer; the arguments
are built by stepmetrics.processors.writes.reduce. The exactly-once state
(which envelopes are new) is in dedup.lua, put at its `--#include` line by
stepmetrics.processors.writes.scripts.

KEYS: the `local <name>_key = KEYS[i]` lines below, in the order of
      stepmetrics.processors.writes.scripts.ApplyKeys (a unit test checks it),
      then KEYS[FIXED_KEYS + slot] = the packed values of list slot `slot`.
ARGV: the FIXED_ARGS fixed ones, in this order:
          pipeline_name deployment_name('' = none) cap n_envelopes n_lists
          max_producers max_scalar_names max_list_names
      then <list names by slot>
      then per envelope: identity n_events min_ts max_ts n_scalars n_lists
          n_scalars x (name ts_us seq idx value n_events_of_name)
          n_lists   x (list_slot first_ts_us packed_float64)
REPLY (parsed by stepmetrics.processors.writes.scripts.ApplyReply):
      1 counts (in the order of stepmetrics.store.stats.ApplyCounts; see reply())
      2 created_us ('' while the execution has none)
      3 lowered (1 when this call lowered created_us, else 0)
      4 scalar_names (all stored ones when lowered, else empty)
      5 list_names (all stored ones when lowered, else empty)
      6 pipeline_name (stored, when lowered or refused, else '')
      7 deployment_name (stored, when lowered or refused, else '')
      8 rejected (identity, reason, identity, reason, ...: single envelopes
        refused by a dedup bound, see dedup.lua admit())
      9 refused (1 when the stored pipeline/deployment disagree: nothing applied)
      10 dropped_scalar_names (new names of this call dropped by max_scalar_names)
      11 dropped_list_names (new names of this call dropped by max_list_names)
      12 updated_us ('' while the execution has none)
      13 incarnation (the server time in µs when this execution's meta was
        created, or first written after stamps began; '' while it has none):
        another value means the execution was deleted or lost and recreated
        (the writer's index cache, stepmetrics.processors.writes.indexcache)

A deleted execution (its tombstone `tombstone_key` exists, see
stepmetrics.store.lifecycle) gets nothing: every envelope of the call counts
in envelopes_skipped_deleted and the reply's created_us is '' (so the writer
indexes nothing for it).

Limits per execution: a name that is new to the execution once it holds
max_scalar_names scalars (max_list_names lists) is dropped with its events and
counted, in `meta` (dropped_scalar_events, dropped_list_values) and in the
reply's counts. The pipeline is fixed by the first applied envelope, the
deployment by the first applied one naming one: a call that disagrees is
refused whole before anything is written (not even marked applied, so dedup
never sees its envelopes). Every refused envelope, of a refused call or
rejected alone, counts in envelopes_refused.

Lua numbers are doubles: timestamps (~1.8e15 µs) and sequences stay exact, but
`tostring` would print them as `1.8e+15`, so everything written back is the
original argument string, never a formatted number.
]]

local meta_key = KEYS[1]
local scalar_values_key = KEYS[2]
local scalar_orders_key = KEYS[3]
local list_created_key = KEYS[4]
local list_dropped_key = KEYS[5]
local seq_key = KEYS[6]
-- applied: the old dedup set (identities), migrated into seq on first touch
local applied_key = KEYS[7]
-- tombstone: exists while the execution is deleted (written by delete.lua)
local tombstone_key = KEYS[8]
local FIXED_KEYS = 8
local KEY_TYPES = {'hash', 'hash', 'hash', 'hash', 'hash', 'hash', 'set', 'hash'}  -- list values: 'string'

local pipeline_name, deployment_name = ARGV[1], ARGV[2]
local cap = tonumber(ARGV[3])
local n_envelopes = tonumber(ARGV[4])
local n_lists = tonumber(ARGV[5])
local max_producers = tonumber(ARGV[6])
local max_scalar_names, max_list_names = tonumber(ARGV[7]), tonumber(ARGV[8])
local FIXED_ARGS = 8
local SCALAR_FIELDS = 6

-- Scripts are not rolled back on error: refuse before the first write if a
-- key has a foreign type, so a failed call leaves nothing (not even `applied`).
local function type_error()
  for i = 1, #KEYS do
    local want = KEY_TYPES[i] or 'string'
    local got = redis.call('TYPE', KEYS[i]).ok
    if got ~= 'none' and got ~= want then
      return 'WRONGTYPE ' .. KEYS[i] .. ' is a ' .. got .. ', not a ' .. want
    end
  end
  return nil
end

-- Scalar order: (ts_us, seq, idx), the later one wins.
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

local function widen(batch, lo_s, hi_s)
  local lo, hi = tonumber(lo_s), tonumber(hi_s)
  if batch.lo == nil or lo < batch.lo then batch.lo, batch.lo_s = lo, lo_s end
  if batch.hi == nil or hi > batch.hi then batch.hi, batch.hi_s = hi, hi_s end
end

-- Keep the latest value per scalar name over the applied envelopes.
local function read_scalars(batch, pos, n)
  for _ = 1, n do
    local name = ARGV[pos]
    local cand = {tonumber(ARGV[pos + 1]), tonumber(ARGV[pos + 2]),
                  tonumber(ARGV[pos + 3]), ARGV[pos + 4],
                  ARGV[pos + 1] .. ' ' .. ARGV[pos + 2] .. ' ' .. ARGV[pos + 3],
                  tonumber(ARGV[pos + 5])}
    local cur = batch.best[name]
    if cur == nil then
      batch.best_names[#batch.best_names + 1] = name
      batch.best[name] = cand
    else
      local n_events = cur[6] + cand[6]
      if later(cand, cur) then batch.best[name] = cand end
      batch.best[name][6] = n_events
    end
    pos = pos + SCALAR_FIELDS
  end
  return pos
end

-- Collect the packed chunks per list slot, in envelope order.
local function read_lists(batch, pos, n)
  for _ = 1, n do
    local slot = tonumber(ARGV[pos])
    local p = batch.pending[slot]
    if p == nil then
      batch.pending[slot] = {ARGV[pos + 1], {ARGV[pos + 2]}}
    else
      p[2][#p[2] + 1] = ARGV[pos + 2]
    end
    pos = pos + 3
  end
  return pos
end

-- admit(), open_dedup(), save_dedup():
--#include dedup.lua

-- Mark each envelope applied; read what the new ones carry, skip the others.
local function read_envelopes(counts, rejected)
  local batch = {best = {}, best_names = {}, pending = {}, dropped_scalars = {}, dropped_lists = {}}
  local dedup = open_dedup()
  local pos = FIXED_ARGS + n_lists + 1
  for _ = 1, n_envelopes do
    local identity, n_ev = ARGV[pos], tonumber(ARGV[pos + 1])
    local ns, nl = tonumber(ARGV[pos + 4]), tonumber(ARGV[pos + 5])
    local verdict = admit(dedup, identity)
    if verdict == 'new' then
      counts.envelopes_applied = counts.envelopes_applied + 1
      counts.events_applied = counts.events_applied + n_ev
      widen(batch, ARGV[pos + 2], ARGV[pos + 3])
      pos = read_lists(batch, read_scalars(batch, pos + 6, ns), nl)
    else
      if verdict == 'duplicate' then
        counts.duplicates_skipped = counts.duplicates_skipped + 1
      else
        counts.envelopes_refused = counts.envelopes_refused + 1
        rejected[#rejected + 1] = identity
        rejected[#rejected + 1] = verdict
      end
      pos = pos + 6 + SCALAR_FIELDS * ns + 3 * nl
    end
  end
  save_dedup(dedup)
  return batch
end

-- Write each scalar whose candidate is later than the stored one; a new name
-- beyond max_scalar_names is dropped with its events.
local function write_scalars(batch, counts)
  local names = batch.best_names
  if #names == 0 then return end
  local room = max_scalar_names - redis.call('HLEN', scalar_values_key)
  local stored = {}
  for i = 1, #names, 1000 do
    local part = redis.call('HMGET', scalar_orders_key, unpack(names, i, math.min(i + 999, #names)))
    for j = 1, #part do stored[i + j - 1] = part[j] end
  end
  local values, orders = {}, {}
  for i, name in ipairs(names) do
    local cand, keep = batch.best[name], true
    if stored[i] then
      local t, s, x = string.match(stored[i], '^(%d+) (%d+) (%d+)$')
      keep = later(cand, {tonumber(t), tonumber(s), tonumber(x)})
    elseif room > 0 then
      room = room - 1
    else
      keep = false
      batch.dropped_scalars[#batch.dropped_scalars + 1] = name
      counts.scalar_events_dropped_by_name_cap = counts.scalar_events_dropped_by_name_cap + cand[6]
    end
    if keep then
      values[#values + 1] = name
      values[#values + 1] = cand[4]
      orders[#orders + 1] = name
      orders[#orders + 1] = cand[5]
    end
  end
  if #values > 0 then
    hset_pairs(scalar_values_key, values)
    hset_pairs(scalar_orders_key, orders)
  end
end

-- Append one list's chunks up to the cap; count what was kept and dropped.
local function append_list(slot, p, counts)
  local key, name = KEYS[FIXED_KEYS + slot], ARGV[FIXED_ARGS + slot]
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
    redis.call('HSETNX', list_created_key, name, p[1])
    counts.list_values_appended = counts.list_values_appended + kept
  end
  if lost > 0 then
    redis.call('HINCRBY', list_dropped_key, name, lost)
    counts.values_dropped_by_cap = counts.values_dropped_by_cap + lost
  end
end

-- Whether list `slot` may be written: a known name, or a new one while the
-- execution holds fewer than max_list_names lists (else dropped and counted).
local function list_admitted(slot, p, batch, counts)
  local name = ARGV[FIXED_ARGS + slot]
  if redis.call('HEXISTS', list_created_key, name) == 1 then return true end
  if batch.list_room == nil then
    batch.list_room = max_list_names - redis.call('HLEN', list_created_key)
  end
  if batch.list_room > 0 then
    batch.list_room = batch.list_room - 1
    return true
  end
  local values = 0
  for _, chunk in ipairs(p[2]) do values = values + #chunk / 8 end
  batch.dropped_lists[#batch.dropped_lists + 1] = name
  counts.list_values_dropped_by_name_cap = counts.list_values_dropped_by_name_cap + values
  return false
end

-- The stored meta when this call's pipeline or deployment disagrees with it.
local function disagreement()
  local stored = redis.call('HMGET', meta_key, 'created_us', 'pipeline_name', 'deployment_name')
  if not stored[1] then return nil end
  local other_pipeline = stored[2] and stored[2] ~= pipeline_name
  local other_deployment = stored[3] and deployment_name ~= '' and stored[3] ~= deployment_name
  if other_pipeline or other_deployment then return stored end
  return nil
end

-- Record in the execution's meta what the name limits dropped.
local function write_drops(counts)
  if counts.scalar_events_dropped_by_name_cap > 0 then
    redis.call('HINCRBY', meta_key, 'dropped_scalar_events', counts.scalar_events_dropped_by_name_cap)
  end
  if counts.list_values_dropped_by_name_cap > 0 then
    redis.call('HINCRBY', meta_key, 'dropped_list_values', counts.list_values_dropped_by_name_cap)
  end
end

-- Update names, times and version; true when created_us went down.
local function write_meta(batch, applied)
  local meta = redis.call('HMGET', meta_key, 'created_us', 'updated_us', 'incarnation')
  local fields = {'pipeline_name', pipeline_name}
  if deployment_name ~= '' then
    fields[#fields + 1] = 'deployment_name'
    fields[#fields + 1] = deployment_name
  end
  local lowered = meta[1] and batch.lo < tonumber(meta[1])
  if not meta[1] or lowered then
    fields[#fields + 1] = 'created_us'
    fields[#fields + 1] = batch.lo_s
  end
  if not meta[2] or batch.hi > tonumber(meta[2]) then
    fields[#fields + 1] = 'updated_us'
    fields[#fields + 1] = batch.hi_s
  end
  -- Readers cache what they render per execution at its version: every
  -- applied envelope adds one, a replay (skipped above) adds nothing. A new
  -- execution starts from the server clock (µs), so one re-created after a
  -- flush never repeats a version a reader saw before.
  -- The same stamp is the execution's incarnation (see REPLY).
  if not meta[1] or not meta[3] then
    local now = redis.call('TIME')
    local stamp = now[1] .. string.format('%06d', tonumber(now[2]))
    if not meta[1] then
      fields[#fields + 1] = 'version'
      fields[#fields + 1] = stamp
    end
    fields[#fields + 1] = 'incarnation'
    fields[#fields + 1] = stamp
  end
  redis.call('HSET', meta_key, unpack(fields))
  redis.call('HINCRBY', meta_key, 'version', applied)
  return lowered
end

-- See REPLY above. When a late event lowered created_us, every index entry of
-- the execution needs the new score, not only those of this batch's names.
local function reply(counts, lowered, batch, rejected, refused)
  local scalar_names, list_names, names = {}, {}, {'', ''}
  if lowered then
    scalar_names = redis.call('HKEYS', scalar_values_key)
    list_names = redis.call('HKEYS', list_created_key)
    names = redis.call('HMGET', meta_key, 'pipeline_name', 'deployment_name')
  elseif refused then
    names = {refused[2], refused[3]}
  end
  return {
    {counts.envelopes_applied, counts.duplicates_skipped, counts.events_applied, counts.list_values_appended, counts.values_dropped_by_cap,
     counts.envelopes_refused, counts.scalar_events_dropped_by_name_cap, counts.list_values_dropped_by_name_cap,
     counts.envelopes_skipped_deleted},
    redis.call('HGET', meta_key, 'created_us') or '',
    lowered and 1 or 0,
    scalar_names,
    list_names,
    names[1] or '',
    names[2] or '',
    rejected,
    refused and 1 or 0,
    batch.dropped_scalars,
    batch.dropped_lists,
    redis.call('HGET', meta_key, 'updated_us') or '',
    redis.call('HGET', meta_key, 'incarnation') or '',
  }
end

local function main()
  local wrong = type_error()
  if wrong then return redis.error_reply(wrong) end
  local counts = {envelopes_applied = 0, duplicates_skipped = 0, events_applied = 0,
                  list_values_appended = 0, values_dropped_by_cap = 0, envelopes_refused = 0,
                  scalar_events_dropped_by_name_cap = 0, list_values_dropped_by_name_cap = 0,
                  envelopes_skipped_deleted = 0}
  local nothing = {dropped_scalars = {}, dropped_lists = {}}
  if redis.call('EXISTS', tombstone_key) == 1 then
    counts.envelopes_skipped_deleted = n_envelopes
    return reply(counts, false, nothing, {}, nil)
  end
  local refused = disagreement()
  if refused then
    counts.envelopes_refused = n_envelopes
    return reply(counts, false, nothing, {}, refused)
  end
  local rejected = {}
  local batch = read_envelopes(counts, rejected)
  local lowered = false
  if counts.envelopes_applied > 0 then
    write_scalars(batch, counts)
    for slot = 1, n_lists do
      local p = batch.pending[slot]
      if p and list_admitted(slot, p, batch, counts) then append_list(slot, p, counts) end
    end
    lowered = write_meta(batch, counts.envelopes_applied)
    write_drops(counts)
  end
  return reply(counts, lowered, batch, rejected, nil)
end

return main()
