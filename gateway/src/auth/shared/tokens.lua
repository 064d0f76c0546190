-- Tokens per minute: a bucket of `capacity` tokens refilled continuously at capacity / 60 per
-- second, as TokenLimit in limits.rs. ARGV[4] = 'take' takes ARGV[3] tokens (already capped
-- at the capacity by the caller); 'settle' adds ARGV[3], the taken estimate minus the actual
-- count (negative when the answer used more).
-- KEYS[1]: hash {level, at} (tokens, Unix µs of the last refill).
-- ARGV: now (Unix µs), capacity, amount, 'take' | 'settle'.
-- Returns '0' when taken (or settled), else the wait in µs as a string.
local now = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local amount = tonumber(ARGV[3])
local mode = ARGV[4]
local state = redis.call('HMGET', KEYS[1], 'level', 'at')
local level = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
-- Replicas' clocks differ a little: never refill for time that went backwards.
local dt = math.max(now - at, 0)
level = math.min(level + dt / 1e6 * capacity / 60, capacity)
at = math.max(at, now)
local wait = 0
if mode == 'take' then
  if level >= amount then
    level = level - amount
  else
    wait = (amount - level) * 60e6 / capacity
  end
else
  -- The debt is capped at one bucket so that one huge answer blocks for at most a minute.
  level = math.max(math.min(level + amount, capacity), -capacity)
end
redis.call('HSET', KEYS[1], 'level', string.format('%.17g', level), 'at', string.format('%.0f', at))
-- A full bucket is the same as no bucket: let the key go once it would be full again.
local full_in_ms = math.ceil((capacity - level) * 60000 / capacity) + 1000
redis.call('PEXPIRE', KEYS[1], full_in_ms)
return string.format('%.17g', wait)
