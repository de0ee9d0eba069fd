"""Server-side scripts: each store write is one atomic script, one round trip.

Doing the read-modify-write inside Redis is what makes appends that race a
compaction or a window trim lose nothing (no GET-then-SET in Python).
"""

# KEYS[1] messages key; KEYS[2] the session's set of appended message ids;
# ARGV[1] ttl in ms (0: none); ARGV[2] max length (0: none);
# ARGV[3..] pairs of (message id, or "" for none; record).
# A message whose id is already in the set is skipped (a retried append).
# Returns how many records were appended.
APPEND = """
local fresh = {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  if id == '' or redis.call('SADD', KEYS[2], id) == 1 then
    fresh[#fresh + 1] = ARGV[i + 1]
  end
end
-- unpack() is capped by Lua's C stack (~8000 values): push in slices.
local n = 0
for i = 1, #fresh, 1000 do
  n = redis.call('RPUSH', KEYS[1], unpack(fresh, i, math.min(i + 999, #fresh)))
end
local maxlen = tonumber(ARGV[2])
if maxlen > 0 and n > maxlen then
  redis.call('LTRIM', KEYS[1], -maxlen, -1)
end
local ttl = tonumber(ARGV[1])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return #fresh
"""

# KEYS[1] messages key; KEYS[2] ids set (for its TTL); ARGV[1] keep_last;
# ARGV[2] seen (-1: the whole list now); ARGV[3] summary record; ARGV[4] ttl in ms (0: none);
# ARGV[5], ARGV[6] (optional) the raw first and last records the caller read: the head
# must still start with exactly those `seen` records.
# Returns how many records were replaced, or -1 when the head is not what was read.
COMPACT = """
local n = redis.call('LLEN', KEYS[1])
local keep = tonumber(ARGV[1])
local seen = tonumber(ARGV[2])
local upto = n
if seen >= 0 then
  if seen > n then return -1 end
  if ARGV[5] and seen > 0 then
    if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[5] then return -1 end
    if redis.call('LINDEX', KEYS[1], seen - 1) ~= ARGV[6] then return -1 end
  end
  upto = seen
end
local remove = upto - keep
if remove <= 0 then return 0 end
redis.call('LTRIM', KEYS[1], remove, -1)
redis.call('LPUSH', KEYS[1], ARGV[3])
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return remove
"""
