-- Reserves a request's largest cost against a key's budget, as Ledger::reserve in budget.rs:
-- admitted while spent + reserved < limit.
-- KEYS[1]: the spend settled in this period (a float string).
-- KEYS[2]: the key's holds, a sorted set: member "<uuid>|<amount>", score = the Unix ms at
--          which the hold lapses. A replica killed mid-request never settles its holds; they
--          stop counting once lapsed, so the overshoot stays bounded by the holds in flight.
-- ARGV: now (Unix ms), limit, member, expiry (Unix ms), holds_ttl (ms).
-- Returns {admitted (1 or 0), spent, reserved} (numbers as strings).
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local spent = tonumber(redis.call('GET', KEYS[1])) or 0
local reserved = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  reserved = reserved + (tonumber(string.match(m, '|(.*)$')) or 0)
end
if spent + reserved >= limit then
  return {0, string.format('%.17g', spent), string.format('%.17g', reserved)}
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
-- The set lives as long as its latest hold.
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[5]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return {1, string.format('%.17g', spent), string.format('%.17g', reserved)}
