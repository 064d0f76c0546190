-- Deletes a cached answer only if it is still the one a bad label was about: another replica
-- may have stored a fresh answer under the same key since, and deleting that would cost a call.
-- KEYS[1] the answer's key; ARGV[1] its source request id as the stored JSON writes it.
local v = redis.call('GET', KEYS[1])
if v and string.find(v, ARGV[1], 1, true) then
  return redis.call('DEL', KEYS[1])
end
return 0
