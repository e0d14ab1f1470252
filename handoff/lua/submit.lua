-- KEYS: ticket hash, conversation pointer, queue stream.
-- ARGV: ticket fields (JSON object of strings), consumer group, key prefix, now.
local fields = cjson.decode(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'existing', fields['ticket_id']}
end
local open_id = redis.call('GET', KEYS[2])
if open_id then
  local open_key = ARGV[3] .. ':ticket:' .. open_id
  if redis.call('EXISTS', open_key) == 1 then
    local priority = math.max(tonumber(redis.call('HGET', open_key, 'priority')),
                              tonumber(fields['priority']))
    redis.call('HSET', open_key, 'priority', priority, 'reason', fields['reason'],
               'transcript', fields['transcript'], 'sentiment_trend', fields['sentiment_trend'],
               'entities', fields['entities'], 'updated_at', ARGV[4])
    redis.call('HINCRBY', open_key, 'escalations', 1)
    return {'updated', open_id}
  end
end
pcall(redis.call, 'XGROUP', 'CREATE', KEYS[3], ARGV[2], '0', 'MKSTREAM')
fields['stream_id'] = redis.call('XADD', KEYS[3], '*', 'ticket_id', fields['ticket_id'])
fields['status'] = 'waiting'
for name, value in pairs(fields) do
  redis.call('HSET', KEYS[1], name, value)
end
redis.call('SET', KEYS[2], fields['ticket_id'])
return {'created', fields['ticket_id']}
