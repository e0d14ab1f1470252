-- KEYS: [1] ticket hash, [2] its queue's waiting set, [3] its queue's claimed set, [4] the
--       target queue's waiting set.
-- ARGV: [1] ticket id, [2] acting agent, [3] '1' when the actor may move any ticket (a
--       supervisor), else only one they hold, [4] target queue, [5] the queue the caller
--       read, [6] now (s), [7] top priority index.
-- The ticket waits again in the target queue, keeping its priority and age.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('NO_TICKET') end
if status == 'closed' then return redis.error_reply('CLOSED') end
if redis.call('HGET', KEYS[1], 'queue') ~= ARGV[5] then return 'retry' end
local owner = redis.call('HGET', KEYS[1], 'agent') or ''
if ARGV[3] ~= '1' and (status ~= 'claimed' or owner ~= ARGV[2]) then
  return redis.error_reply('NOT_OWNER ' .. status .. ' ' .. owner)
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[1], 'agent', 'claimed_at')
redis.call('HSET', KEYS[1], 'queue', ARGV[4], 'status', 'waiting', 'updated_at', ARGV[6])
local priority = redis.call('HGET', KEYS[1], 'priority')
redis.call('ZADD', KEYS[4], rank(priority, redis.call('HGET', KEYS[1], 'created_at'), ARGV[7]),
           ARGV[1])
return 'transferred'
