-- Raises a period's spend to what a starting replica's outcome log holds, never lowers it.
-- KEYS[1]: the spend of the period; ARGV: the logged spend (USD), how long (ms) it must stay.
-- The log is a floor of the true spend (a shared PostgreSQL log holds all of it), so a
-- settlement Redis missed (a stall, an outage) comes back here; a replica whose own log saw
-- less than the others counted leaves the larger value.
local logged = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]))
if current == nil or current < logged then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
