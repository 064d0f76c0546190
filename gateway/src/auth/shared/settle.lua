-- Replaces a budget hold with the real cost, as Reservation::settle in budget.rs.
-- KEYS[1]: the spend of the period the request ended in; KEYS[2]: the key's holds.
-- ARGV: member (the hold), actual cost (USD), the Unix ms at which the period's spend may go.
redis.call('ZREM', KEYS[2], ARGV[1])
local actual = tonumber(ARGV[2])
if actual and actual > 0 then
  redis.call('INCRBYFLOAT', KEYS[1], ARGV[2])
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
end
return 1
