-- KEYS: ticket hash, queue stream, conversation pointer. ARGV: group, agent, now, TTL seconds.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('NO_TICKET') end
local owner = redis.call('HGET', KEYS[1], 'agent') or ''
if owner ~= ARGV[2] or status == 'waiting' then
  return redis.error_reply('NOT_OWNER ' .. status .. ' ' .. owner)
end
if status == 'closed' then return 'already_closed' end
local entry = redis.call('HGET', KEYS[1], 'stream_id')
redis.call('XACK', KEYS[2], ARGV[1], entry)
redis.call('XDEL', KEYS[2], entry)
redis.call('HSET', KEYS[1], 'status', 'closed', 'closed_at', ARGV[3])
if redis.call('GET', KEYS[3]) == redis.call('HGET', KEYS[1], 'ticket_id') then
  redis.call('DEL', KEYS[3])
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 'closed'
