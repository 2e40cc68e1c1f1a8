"""The Lua both event write paths share (service.store.events.write): fields of a packed request, client-id
dedupe, order data and prices, the stream entry, attribution and each user's since-training state."""

from __future__ import annotations

from recommender.baskets import BOUGHT_TYPES

#: Purchase times kept per item in a user's since-training purchases (the newest to arrive).
MAX_BOUGHT_TIMES = 8

#: The error a script answers when an event reuses the id of a different stored event (its index follows).
REUSED_ID_ERROR = "REUSEDEVENTID"


# An event whose seen key already exists was stored by an earlier request (a client retrying
# after a lost 202) and is skipped: SET NX in the same script as the XADD, so "stored" and
# "remembered as stored" can never disagree, even if Redis dies mid-request. The seen key holds a
# fingerprint of the event's customer, item and type (not its time: a retried event without one is
# stamped anew), and a request with an id already stored for a different event is refused before
# anything is written (REUSED_ID_ERROR, its index: EventIdReused); a key from before fingerprints holds "1"
# and matches any event. An impression goes
# to the shown set (ZADD GT: a late-arriving older impression never moves an item back in time),
# not to the since-training hash, so it is never taken for an interaction. The since-training hash's companion
# holds the stream id of each item's newest event, so training drops exactly what it folded
# (since_training.forget_folded); a purchase (recommender.baskets.BOUGHT_TYPES) also appends its time to
# the user's since-training purchases, dropped with the item's since-training entry.
SHARED_LUA = "local BOUGHT = {" + ", ".join(f"[{t!r}] = true" for t in BOUGHT_TYPES) + "}\n" + \
    f"local MAX_BOUGHT_TIMES = {MAX_BOUGHT_TIMES}\nlocal REUSED_ID_ERROR = '{REUSED_ID_ERROR}'\n" + r"""
local function fields(packed)
  local f = {}
  for field in string.gmatch(packed, '[^\031]+') do
    f[#f + 1] = field
  end
  return f
end
local function fingerprint(user, item, kind)
  return string.sub(redis.sha1hex(user .. '\031' .. item .. '\031' .. kind), 1, 12)
end
local function is_new(seen_key, ttl, fp)
  return seen_key == nil or redis.call('SET', seen_key, fp, 'NX', 'EX', ttl)
end
-- the fingerprint of each event with an id, by the index of its first field; or, as the second value, the error
-- reply naming the first event whose id was stored before for a different event
local function fingerprints(f, stride, seen_at)
  local prints = {}
  for j = 1, #f, stride do
    local s = tonumber(f[j + seen_at])
    if s > 0 then
      local fp = fingerprint(f[j], f[j + 1], f[j + 2])
      local was = redis.call('GET', KEYS[s])
      if was and was ~= '1' and was ~= fp then
        return nil, redis.error_reply(REUSED_ID_ERROR .. ' ' .. ((j - 1) / stride))
      end
      prints[j] = fp
    end
  end
  return prints, nil
end
local function order_data(packed)
  if packed == '\002' then
    return '\002', '1', '\002', 0
  end
  local p, q, o, k = string.match(packed, '^([^\024]+)\024([^\024]+)\024([^\024]+)\024([^\024]+)$')
  return p, q, o, tonumber(k)
end
local function priced(offers, kind, item, price, counts_for)
  if kind ~= 'purchase' or (price ~= '\002' and counts_for == '\002') then
    if price == '\002' then
      return nil, nil
    end
    return price, nil
  end
  local offer = redis.call('HGET', offers, item)
  local currency = nil
  if offer then
    local sep = string.find(offer, '\031', 1, true)
    if price == '\002' and sep > 1 then
      price = string.sub(offer, 1, sep - 1)
    end
    if sep < #offer then
      currency = string.sub(offer, sep + 1)
    end
  end
  if price == '\002' then
    price = nil
  end
  return price, currency
end
local function append(stream, seen_key, cut, user, item, kind, at, value, rid, price, quantity, order)
  local entry = {'u', user, 'i', item, 't', kind, 'ts', at, 'v', value}
  if seen_key then
    entry[#entry + 1] = 'e'
    entry[#entry + 1] = string.sub(seen_key, cut + 1)
  end
  if rid ~= '\002' then
    entry[#entry + 1] = 'r'
    entry[#entry + 1] = rid
  end
  if price then
    entry[#entry + 1] = 'p'
    entry[#entry + 1] = price
  end
  if quantity ~= '1' then
    entry[#entry + 1] = 'q'
    entry[#entry + 1] = quantity
  end
  if order ~= '\002' then
    entry[#entry + 1] = 'o'
    entry[#entry + 1] = order
  end
  return redis.call('XADD', stream, '*', unpack(entry))
end
local function attribute(online, counts_for, kind, price, quantity, currency, order_key, order_ttl, buyers, user)
  if counts_for == '\002' then
    return 0
  end
  if kind == 'click' then
    redis.call('HINCRBY', online, counts_for .. '|clicks', 1)
    return 1
  end
  redis.call('HINCRBY', online, counts_for .. '|purchases', 1)
  local micros = 0
  if price then
    micros = math.floor(tonumber(price) * tonumber(quantity) * 1000000 + 0.5)
    redis.call('HINCRBY', online, counts_for .. '|revenue.' .. currency, string.format('%.0f', micros))
  end
  local at = string.find(counts_for, '@', 1, true)
  if at then  -- an experiment's variant: who bought, and for how much (service.store.experiments)
    local label = string.sub(counts_for, at + 1, string.find(counts_for, '|', at, true) - 1)
    redis.call('HINCRBY', buyers, label .. '\031' .. currency .. '\031' .. user, string.format('%.0f', micros))
  end
  if order_key == nil or redis.call('SET', order_key, '1', 'NX', 'EX', order_ttl) then
    redis.call('HINCRBY', online, counts_for .. '|orders.' .. currency, 1)
  end
  return 1
end
local function remember_purchase(bought, item, at)
  local times = redis.call('HGET', bought, item)
  if times then
    times = times .. ' ' .. at
    local _, spaces = string.gsub(times, ' ', ' ')
    if spaces >= MAX_BOUGHT_TIMES then
      times = string.sub(times, string.find(times, ' ', 1, true) + 1)
    end
  else
    times = at
  end
  redis.call('HSET', bought, item, times)
end
local function add_to_user(kind, since, since_ids, bought, shown, item, at, weight, id)
  if kind ~= 'impression' then
    redis.call('HINCRBYFLOAT', since, item, weight)
    redis.call('HSET', since_ids, item, id)
    if BOUGHT[kind] then
      remember_purchase(bought, item, at)
    end
  elseif shown then
    redis.call('ZADD', shown, 'GT', at, item)
  end
end
local function expire_since_training(since, since_ids, bought, ttl)
  redis.call('EXPIRE', since, ttl)
  redis.call('EXPIRE', since_ids, ttl)
  redis.call('EXPIRE', bought, ttl)
end
local function trim_shown(shown, oldest, ttl, size)
  redis.call('ZREMRANGEBYSCORE', shown, '-inf', '(' .. oldest)
  redis.call('ZREMRANGEBYRANK', shown, 0, -1 - tonumber(size))
  redis.call('EXPIRE', shown, ttl)
end
"""
