-- Shared by the scripts that (re)queue a ticket, prepended to each (handoff/queues.py).
-- A waiting ticket's score in its queue's sorted set: the most urgent first, the oldest first
-- within a priority. ARGV's top priority index comes from handoff.config.PRIORITIES; created
-- is a Unix time in seconds. Exact in Lua's doubles (below 2^53) until the year 2286.
local function rank(priority, created, top)
  return (tonumber(top) - tonumber(priority)) * 1e13 + math.floor(tonumber(created) * 1000)
end
