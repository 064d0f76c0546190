-- Requests per minute as GCRA, the same arithmetic as governor's (gcra.rs), on one key.
-- KEYS[1]: the key's theoretical arrival time (TAT), Unix microseconds.
-- ARGV: now (Unix µs), t (µs between requests: 60 s / rpm), tau (t * (rpm - 1): the burst).
-- Returns 0 when the request is admitted, else the wait in µs (as a string, to keep fractions).
local now = tonumber(ARGV[1])
local t = tonumber(ARGV[2])
local tau = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
local earliest = tat - tau
if now < earliest then
  return string.format('%.17g', earliest - now)
end
local nxt = math.max(tat, now) + t
-- Once the TAT is in the past the key behaves as if new, so it may expire then.
local ttl_ms = math.ceil((nxt - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', ttl_ms)
return '0'
