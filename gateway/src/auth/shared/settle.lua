-- Replaces a budget hold with the real cost, as Reservation::settle in budget.rs.
-- KEYS[1]: the spend of the period the request ended in; KEYS[2]: the key's holds; KEYS[3]:
-- their sum (see reserve.lua).
-- KEYS[4]: this settlement's marker, so that a retry of one whose answer was lost (a timeout
-- after Redis ran it) counts once.
-- ARGV: member (the hold), its amount, actual cost (USD), how long (ms) the period's spend
-- must stay from now, how long (ms) the marker stays.
-- Returns 1, or 0 when this hold was settled before.
-- Only a settlement that adds spend needs one: a release sent twice changes nothing.
if (tonumber(ARGV[3]) or 0) > 0 and not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[5]) then
  return 0
end
-- A hold that already lapsed was taken off the sum when it lapsed: only a removed one is.
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
  if redis.call('ZCARD', KEYS[2]) == 0 then
    redis.call('DEL', KEYS[3])
  else
    redis.call('INCRBYFLOAT', KEYS[3], -tonumber(ARGV[2]))
  end
end
local actual = tonumber(ARGV[3])
if actual and actual > 0 then
  redis.call('INCRBYFLOAT', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1
