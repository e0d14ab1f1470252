-- KEYS: [1] ticket hash, [2] its queue's claimed set, [3] its queue's waiting set, [4] the
--       conversation's open-ticket pointer.
-- ARGV: [1] ticket id, [2] agent, [3] now (s), [4] lifetime of a closed ticket (s).
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('NO_TICKET') end
local owner = redis.call('HGET', KEYS[1], 'agent') or ''
if owner ~= ARGV[2] or status == 'waiting' then
  return redis.error_reply('NOT_OWNER ' .. status .. ' ' .. owner)
end
if status == 'closed' then return 'already_closed' end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], 'status', 'closed', 'closed_at', ARGV[3])
if redis.call('GET', KEYS[4]) == ARGV[1] then
  redis.call('DEL', KEYS[4])
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 'closed'
