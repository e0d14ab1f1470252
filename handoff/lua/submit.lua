-- KEYS: [1] the new ticket's hash, [2] the conversation's open-ticket pointer, [3] the new
--       ticket's queue (waiting set), [4] the open ticket's hash and [5] its queue's waiting
--       set as the caller read them (KEYS[1] and KEYS[3] when there was none).
-- ARGV: [1] ticket fields (JSON object of strings), [2] the open ticket id the caller read
--       ('' for none), [3] the open ticket's queue as read, [4] now (s), [5] lifetime of an
--       open ticket (s), [6] top priority index.
-- A known ticket id is a no-op ('existing'); a conversation with an open ticket updates it
-- ('updated'); else the ticket is created. 'retry' when the pointer or the open ticket's
-- queue changed since the caller read them (every key touched must be declared).
local fields = cjson.decode(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'existing', fields['ticket_id']}
end
local open_id = redis.call('GET', KEYS[2]) or ''
if open_id ~= ARGV[2] then return {'retry', open_id} end
if open_id ~= '' and redis.call('EXISTS', KEYS[4]) == 1 then
  if redis.call('HGET', KEYS[4], 'queue') ~= ARGV[3] then return {'retry', open_id} end
  local old = tonumber(redis.call('HGET', KEYS[4], 'priority'))
  local priority = math.max(old, tonumber(fields['priority']))
  redis.call('HSET', KEYS[4], 'priority', priority, 'reason', fields['reason'],
             'transcript', fields['transcript'], 'sentiment_trend', fields['sentiment_trend'],
             'entities', fields['entities'], 'updated_at', ARGV[4])
  redis.call('HINCRBY', KEYS[4], 'escalations', 1)
  if priority ~= old and redis.call('ZSCORE', KEYS[5], open_id) then
    redis.call('ZADD', KEYS[5], rank(priority, redis.call('HGET', KEYS[4], 'created_at'), ARGV[6]),
               open_id)
  end
  redis.call('EXPIRE', KEYS[4], ARGV[5])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
  return {'updated', open_id}
end
fields['status'] = 'waiting'
for name, value in pairs(fields) do
  redis.call('HSET', KEYS[1], name, value)
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[3], rank(fields['priority'], fields['created_at'], ARGV[6]),
           fields['ticket_id'])
redis.call('SET', KEYS[2], fields['ticket_id'], 'EX', ARGV[5])
return {'created', fields['ticket_id']}
