-- KEYS: ticket hash, queue stream. ARGV: consumer group, agent.
-- Proof of life: resets the idle time of the agent's stream entry, but only while the agent
-- still holds the ticket, so a heartbeat never takes a reclaimed ticket back.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('NO_TICKET') end
local owner = redis.call('HGET', KEYS[1], 'agent') or ''
if status ~= 'claimed' or owner ~= ARGV[2] then
  return redis.error_reply('NOT_OWNER ' .. status .. ' ' .. owner)
end
redis.call('XCLAIM', KEYS[2], ARGV[1], ARGV[2], 0, redis.call('HGET', KEYS[1], 'stream_id'),
           'JUSTID')
return 'ok'
