-- KEYS: queue stream. ARGV: consumer group, agent, claim timeout (ms), key prefix, now.
-- First a ticket whose agent went silent for longer than the timeout, then a new one. Stream
-- entries of tickets that are gone or closed are acknowledged and dropped on the way.
pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
local function take(entry)
  if type(entry) ~= 'table' then return nil end
  local ticket_id = entry[2][2]
  local key = ARGV[4] .. ':ticket:' .. ticket_id
  local status = redis.call('HGET', key, 'status')
  if status ~= 'waiting' and status ~= 'claimed' then
    redis.call('XACK', KEYS[1], ARGV[1], entry[1])
    redis.call('XDEL', KEYS[1], entry[1])
    return nil
  end
  redis.call('HSET', key, 'status', 'claimed', 'agent', ARGV[2], 'claimed_at', ARGV[5])
  return ticket_id
end
local cursor = '0-0'
repeat
  local result = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], cursor, 'COUNT', 1)
  cursor = result[1]
  for _, entry in ipairs(result[2]) do
    local taken = take(entry)
    if taken then return taken end
  end
until cursor == '0-0'
while true do
  local result = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', 1,
                            'STREAMS', KEYS[1], '>')
  if not result then return false end
  local taken = take(result[1][2][1])
  if taken then return taken end
end
