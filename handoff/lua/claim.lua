-- KEYS: [1] the queue's waiting set, [2] its claimed set (score: the holder's last sign of
--       life, ms), [3] its agents set (score: last seen, ms), [4] the candidate ticket's hash.
-- ARGV: [1] candidate ticket id, [2] agent, [3] now (ms), [4] claim timeout (ms), [5] now (s).
-- The caller picks the candidate (the most urgent, oldest of the waiting tickets and of those
-- whose holder went silent for longer than the timeout); this claims it if it is still
-- free: 'claimed', 'retry' (someone else was faster: pick again) or 'gone' (the ticket
-- vanished or was closed; its entries are dropped).
local id = ARGV[1]
local now = tonumber(ARGV[3])
local waiting = redis.call('ZSCORE', KEYS[1], id)
local seen = redis.call('ZSCORE', KEYS[2], id)
if not waiting and not (seen and tonumber(seen) < now - tonumber(ARGV[4])) then
  return 'retry'
end
local status = redis.call('HGET', KEYS[4], 'status')
if status ~= 'waiting' and status ~= 'claimed' then
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  return 'gone'
end
redis.call('ZREM', KEYS[1], id)
redis.call('ZADD', KEYS[2], now, id)
redis.call('HSET', KEYS[4], 'status', 'claimed', 'agent', ARGV[2], 'claimed_at', ARGV[5])
redis.call('ZADD', KEYS[3], now, ARGV[2])
-- Agents silent for a day are forgotten, so the set stays bounded.
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 86400000)
return 'claimed'
