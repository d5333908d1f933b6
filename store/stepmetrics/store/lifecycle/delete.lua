--[[
Delete one execution atomically and leave its tombstone.

One call touches only the keys of ONE execution (one hash tag, so one Redis
Cluster slot). The list value keys `P:{E}:l:<name>` are not in KEYS (their
names are only known from `lc` and `ld`): they are built from the list key
prefix ARGV[1], which holds E's hash tag, so they are in the same slot as
KEYS (Redis 7 allows a script undeclared keys of the slot its KEYS name).
Called by stepmetrics.store.lifecycle.deletion, which then removes E from the
global indexes (other slots) with what this returns.

KEYS: the `local <name>_key = KEYS[i]` lines below, in the order of
      stepmetrics.store.lifecycle.deletion.DeleteKeys (a unit test checks it).
ARGV: list_key_prefix tombstone_seconds older_than_us('' = delete whatever
      its last update; else only when updated_us < older_than_us)
REPLY (parsed by stepmetrics.store.lifecycle.deletion.DeleteReply):
      1 status ('deleted'; 'tombstoned': deleted before, the names are the
        tombstone's; 'unknown': neither data nor tombstone; 'fresh': updated
        at or after older_than_us, nothing deleted)
      2 pipeline_name ('' when unknown)
      3 deployment_name ('' when none)
      4 scalar_names
      5 list_names
]]

local meta_key = KEYS[1]
local scalar_values_key = KEYS[2]
local scalar_orders_key = KEYS[3]
local list_created_key = KEYS[4]
local list_dropped_key = KEYS[5]
local seq_key = KEYS[6]
local applied_key = KEYS[7]
local tombstone_key = KEYS[8]
local DATA_KEYS = {meta_key, scalar_values_key, scalar_orders_key, list_created_key,
                   list_dropped_key, seq_key, applied_key}

local list_key_prefix = ARGV[1]
local tombstone_seconds = ARGV[2]
local older_than_us = ARGV[3]

-- A tombstone's fields: the fixed ones, then 's:<name>' and 'l:<name>'.
local function read_tombstone()
  local raw = redis.call('HGETALL', tombstone_key)
  if #raw == 0 then return {'unknown', '', '', {}, {}} end
  local fixed, scalars, lists = {}, {}, {}
  for i = 1, #raw, 2 do
    local field, kind = raw[i], string.sub(raw[i], 1, 2)
    if kind == 's:' then
      scalars[#scalars + 1] = string.sub(field, 3)
    elseif kind == 'l:' then
      lists[#lists + 1] = string.sub(field, 3)
    else
      fixed[field] = raw[i + 1]
    end
  end
  return {'tombstoned', fixed.pipeline_name or '', fixed.deployment_name or '', scalars, lists}
end

-- Every list name E holds: those with values (lc) and those only counted as
-- dropped (ld), each once.
local function list_names()
  local names, seen = {}, {}
  for _, key in ipairs({list_created_key, list_dropped_key}) do
    for _, name in ipairs(redis.call('HKEYS', key)) do
      if not seen[name] then
        seen[name] = true
        names[#names + 1] = name
      end
    end
  end
  return names
end

-- HSET in slices: unpack() has a C-stack limit.
local function hset_pairs(key, pairs)
  for i = 1, #pairs, 1000 do
    redis.call('HSET', key, unpack(pairs, i, math.min(i + 999, #pairs)))
  end
end

local function write_tombstone(pipeline, deployment, scalars, lists)
  local now = redis.call('TIME')
  local fields = {'deleted_us', now[1] .. string.format('%06d', tonumber(now[2])),
                  'pipeline_name', pipeline, 'deployment_name', deployment}
  for _, name in ipairs(scalars) do
    fields[#fields + 1] = 's:' .. name
    fields[#fields + 1] = '1'
  end
  for _, name in ipairs(lists) do
    fields[#fields + 1] = 'l:' .. name
    fields[#fields + 1] = '1'
  end
  redis.call('DEL', tombstone_key)
  hset_pairs(tombstone_key, fields)
  redis.call('EXPIRE', tombstone_key, tombstone_seconds)
end

local function main()
  local meta = redis.call('HMGET', meta_key, 'pipeline_name', 'deployment_name', 'updated_us')
  if redis.call('EXISTS', meta_key) == 0 then return read_tombstone() end
  if older_than_us ~= '' and meta[3] and tonumber(meta[3]) >= tonumber(older_than_us) then
    return {'fresh', '', '', {}, {}}
  end
  local pipeline, deployment = meta[1] or '', meta[2] or ''
  local scalars = redis.call('HKEYS', scalar_values_key)
  local lists = list_names()
  -- UNLINK: a large list's memory is freed off the main thread.
  for _, name in ipairs(lists) do redis.call('UNLINK', list_key_prefix .. name) end
  redis.call('UNLINK', unpack(DATA_KEYS))
  write_tombstone(pipeline, deployment, scalars, lists)
  return {'deleted', pipeline, deployment, scalars, lists}
end

return main()
