-- Reserves a request's largest cost against a key's budget, as Ledger::reserve in budget.rs:
-- admitted while spent + reserved < limit.
-- KEYS[1]: the spend settled in this period (a float string).
-- KEYS[2]: the key's holds, a sorted set: member "<uuid>|<amount>", score = the Unix ms at
--          which the hold lapses. A replica killed mid-request never settles its holds; they
--          stop counting once lapsed, so the overshoot stays bounded by the holds in flight.
-- KEYS[3]: the sum of the holds in KEYS[2] (a float string), kept so that a reservation costs
--          the same with 1 or 1,000 requests in flight.
-- ARGV: now (Unix ms), limit, member, expiry (Unix ms), holds_ttl (ms), amount, the spend this
--       replica knows of in the period (seeded from the outcome log at start, plus what it
--       settled since), and how long (ms) the period's spend must stay.
-- Returns {admitted (1 or 0), spent, reserved} (numbers as strings).
local limit = tonumber(ARGV[2])
local reserved = tonumber(redis.call('GET', KEYS[3])) or 0
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if #lapsed > 0 then
  for _, m in ipairs(lapsed) do
    reserved = reserved - (tonumber(string.match(m, '|(.*)$')) or 0)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
end
-- No holds left: no rounding left over either.
local none_left = redis.call('ZCARD', KEYS[2]) == 0
if none_left then
  reserved = 0
end
reserved = math.max(reserved, 0)
local spent = tonumber(redis.call('GET', KEYS[1]))
if spent == nil then
  -- No spend recorded: the period has just begun, or Redis came back empty (a restart
  -- without persistence). Start from what this replica knows rather than from nothing, so
  -- that a restart of Redis does not hand every key its budget back.
  spent = tonumber(ARGV[7]) or 0
  if spent > 0 then
    redis.call('SET', KEYS[1], string.format('%.17g', spent), 'PX', ARGV[8])
  end
end
local admitted = 0
if spent + reserved < limit then
  admitted = 1
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
  -- Both live as long as the latest hold could.
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
  redis.call('SET', KEYS[3], string.format('%.17g', reserved + tonumber(ARGV[6])), 'PX', ARGV[5])
elseif none_left then
  redis.call('DEL', KEYS[3])
elseif #lapsed > 0 then
  redis.call('SET', KEYS[3], string.format('%.17g', reserved), 'KEEPTTL')
end
return {admitted, string.format('%.17g', spent), string.format('%.17g', reserved)}
