-- KEYS: [1] ticket hash, [2] its queue's claimed set, [3] its queue's agents set.
-- ARGV: [1] ticket id, [2] agent, [3] now (ms).
-- Proof of life: refreshes the holder's last sign of life, but only while the agent still
-- holds the ticket, so a heartbeat never takes a reclaimed ticket back.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('NO_TICKET') end
local owner = redis.call('HGET', KEYS[1], 'agent') or ''
if status ~= 'claimed' or owner ~= ARGV[2] then
  return redis.error_reply('NOT_OWNER ' .. status .. ' ' .. owner)
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return 'ok'
