#!lua flags=no-writes,no-cluster
--[[
One batch of a name query in one round trip: the next executions of a name
index and, for each, what the page needs of it (one server only).

A name query walks `P:idx:scalar:<name>` (or `P:idx:list:<name>`) and then
reads a few fields of each execution found; as two pipelined round trips that
is most of a small query's time. This script does both inside Redis. The keys
of the executions come from the index, so they cannot all be declared: the
`no-cluster` flag makes Redis refuse the script on a cluster (where those
keys live on other nodes; the caller uses the pipelined reads there) and
`no-writes` makes it refuse any write. Called by
stepmetrics.store.name_reads, which builds every argument from
stepmetrics.store.keys.

KEYS: 1 the name index
ARGV: 1 low: the lowest score to return ("-inf" or an integer)
      2 offset: members of score `low` to skip (already seen)
      3 count: at most this many members
      4 head: an execution key up to its hash tag ("P:{")
      5 meta: what follows the hash tag in the meta key ("}:meta")
      6 first: the same for the hash read by HGET <name> ("}:sv" or "}:lc")
      7 second: the same for the second read ("}:so" for HGET <name>, or
        "}:l:<name>" for STRLEN)
      8 mode: "hget" (scalars: HGET second <name>) or "strlen" (lists)
      9 name: the metric name
REPLY: per member, in index order, six fields: member, score, pipeline_name,
      deployment_name (nil when unset), HGET first <name>, then HGET second
      <name> or STRLEN second (nil / 0 when the execution lacks the metric).
]]

-- The hash tag of an execution id, exactly as stepmetrics.store.keys.hash_tag
-- writes it (a test compares the two on ids holding these characters).
local TAG_ESCAPES = { ["%"] = "%25", ["{"] = "%7B", ["}"] = "%7D" }

local function tag(execution_id)
  return (string.gsub(execution_id, "[%%{}]", TAG_ESCAPES))
end

local function members(index_key, low, offset, count)
  return redis.call(
    "ZRANGEBYSCORE", index_key, low, "+inf", "WITHSCORES", "LIMIT", offset, count
  )
end

local function read_one(reply, member, score, spec)
  local key = spec.head .. tag(member)
  local meta = redis.call("HMGET", key .. spec.meta, "pipeline_name", "deployment_name")
  local first = redis.call("HGET", key .. spec.first, spec.name)
  local second
  if spec.mode == "strlen" then
    second = redis.call("STRLEN", key .. spec.second)
  else
    second = redis.call("HGET", key .. spec.second, spec.name)
  end
  local n = #reply
  reply[n + 1], reply[n + 2], reply[n + 3] = member, score, meta[1]
  reply[n + 4], reply[n + 5], reply[n + 6] = meta[2], first, second
end

local spec = {
  head = ARGV[4], meta = ARGV[5], first = ARGV[6], second = ARGV[7],
  mode = ARGV[8], name = ARGV[9],
}
local found = members(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
local reply = {}
for i = 1, #found, 2 do
  read_one(reply, found[i], found[i + 1], spec)
end
return reply
