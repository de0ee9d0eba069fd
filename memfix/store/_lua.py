"""Server-side scripts: each store write is one atomic script, one round trip.

Doing the read-modify-write inside Redis is what makes appends that race a
compaction or a window trim lose nothing (no GET-then-SET in Python).

Redis does not roll back a script's earlier writes when a later command fails,
so every script runs each command that can fail (a wrong key type) before its
first write: a failed call leaves no trace and a retry starts from scratch.

The scripts touch only the session's messages list (``KEYS[1]``). The argument
lists are built by :mod:`memfix.store.redis_store`'s module-level helpers, which
any other store class (an async twin) can call.
"""

# KEYS[1] messages key; ARGV[1] the TTL in ms ('0': none), passed to PEXPIRE as sent;
# then the records, from ARGV[@FIRST@]. Two variants of one text (see append_script):
# when every record carries a message id (the common case) the records start at ARGV[2]
# and each is looked up; otherwise ARGV[2] holds one flag per record ('1': it carries an
# id, a retried append of it is skipped; '0': it does not) and the records start at
# ARGV[3]. An argument costs the client ~3k instructions (redis-py), so the common case
# sends none it does not need. The window and the dedupe depth are constants in the
# text too, so a call parses nothing: this is the hottest write path.
# A retry resends the same message, hence the same bytes: LPOS finds it among the newest
# `depth` records of the list itself, so no per-message id set (memory) is kept. LPOS is
# read-only and fails on a wrong key type before RPUSH, the first write; nothing after
# RPUSH can fail.
# Returns how many records were appended.
APPEND = """
local ttl, maxlen, depth, first = ARGV[1], @MAX_MESSAGES@, '@DEDUPE_WINDOW@', @FIRST@
if #ARGV == first then  -- one record, the common case: no tables, no loop
  local rec = ARGV[first]
  if (first == 2 or ARGV[2] == '1')
      and redis.call('LPOS', KEYS[1], rec, 'RANK', -1, 'MAXLEN', depth) then
    return 0
  end
  local n = redis.call('RPUSH', KEYS[1], rec)
  if maxlen > 0 and n > maxlen then
    redis.call('LTRIM', KEYS[1], -maxlen, -1)
  end
  if ttl ~= '0' then
    redis.call('PEXPIRE', KEYS[1], ttl)
  end
  return 1
end
local flags, fresh, seen = ARGV[2], {}, {}
for i = first, #ARGV do
  local rec = ARGV[i]
  if first == 2 or string.byte(flags, i - 2) == 49 then
    if seen[rec] or redis.call('LPOS', KEYS[1], rec, 'RANK', -1, 'MAXLEN', depth) then
      rec = nil
    else
      seen[rec] = true
    end
  end
  if rec then fresh[#fresh + 1] = rec end
end
-- unpack() is capped by Lua's C stack (~8000 values): push in slices.
local n = 0
for i = 1, #fresh, 1000 do
  n = redis.call('RPUSH', KEYS[1], unpack(fresh, i, math.min(i + 999, #fresh)))
end
if #fresh == 0 then return 0 end  -- only retries: nothing was written, nothing to refresh
if maxlen > 0 and n > maxlen then
  redis.call('LTRIM', KEYS[1], -maxlen, -1)
end
if ttl ~= '0' then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return #fresh
"""


def append_script(max_messages: int, dedupe_window: int, *, flagged: bool = False) -> str:
    """APPEND for one store's window and dedupe depth (validated ints; 0: no window).

    ``flagged``: the variant whose ARGV[2] says which records carry an id (a batch
    holding a message with ``id=None``); the default variant takes records only.

    Written into the text rather than sent and parsed: parsing an options argument
    on every call (``string.match``) cost the server ~2 us of a ~50 us append. Each
    distinct pair is one script on the server (about 4 KB with its Lua function;
    two once a message without an id is appended, or an async store initializes);
    these are configuration, so a server holds a handful. The TTL, which an
    application may compute per session, stays an argument: one script serves
    every TTL. The depth is a Lua string, passed to LPOS as written (a Lua number
    would print a large integer in exponent form, which Redis refuses).
    """
    return (
        APPEND.replace("@MAX_MESSAGES@", str(int(max_messages)))
        .replace("@DEDUPE_WINDOW@", str(int(dedupe_window)))
        .replace("@FIRST@", "3" if flagged else "2")
    )


# KEYS[1] messages key; ARGV[1] keep_last;
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
if ARGV[4] ~= '0' then  -- as sent: a Lua number would print a large TTL as 1e+17
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return remove
"""
