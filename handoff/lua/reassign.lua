-- KEYS: [1] ticket hash, [2] its queue's waiting set, [3] its queue's claimed set.
-- ARGV: [1] ticket id, [2] the agent who gets it, [3] now (ms), [4] now (s), [5] the queue
--       the caller read.
-- A supervisor gives a waiting or claimed ticket to an agent, who then holds it as if they
-- had claimed it.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('NO_TICKET') end
if status == 'closed' then return redis.error_reply('CLOSED') end
if redis.call('HGET', KEYS[1], 'queue') ~= ARGV[5] then return 'retry' end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[1], 'status', 'claimed', 'agent', ARGV[2], 'claimed_at', ARGV[4])
return 'reassigned'
