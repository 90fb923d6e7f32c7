-- lua.lua -- Lua 5.4: tables, strings, closures, coroutines, string.format/gsub/pack, table.sort;
-- prints checksums and counts that are the same on every correct run.
local x = 12345
local function rnd() x = (x * 1103515245 + 12345) % 2147483648; return x end

local function sum(s)   -- a cheap string checksum (Fletcher-like), stable across runs
  local a, b = 1, 0
  for i = 1, #s do a = (a + s:byte(i)) % 65521; b = (b + a) % 65521 end
  return b * 65536 + a
end

-- records: tables of strings and numbers, sorted and serialised
local recs = {}
for i = 1, 60000 do
  recs[i] = { id = i, name = string.format("item-%06d", rnd() % 1000000), w = rnd() % 1000 }
end
table.sort(recs, function(p, q) if p.name ~= q.name then return p.name < q.name end return p.id < q.id end)
local parts = {}
for i, r in ipairs(recs) do parts[i] = r.name .. ":" .. r.w end
local s = table.concat(parts, ",")
print("records", #s, sum(s), recs[1].name, recs[#recs].name)

-- string churn: gsub, rep, upper, concatenation in a loop, garbage everywhere
local words = {}
for w in s:gmatch("item%-(%d+)") do words[#words + 1] = w end
local t = s:gsub("item", "I"):gsub("(%d)(%d)", "%2%1")
print("gsub", #words, #t, sum(t))
local acc = ""
for i = 1, 3000 do acc = acc .. tostring(i % 97) end
print("concat", #acc, sum(acc))

-- closures and a counting table
local counters = {}
for i = 1, 100 do local n = 0; counters[i] = function(k) n = n + k; return n end end
local total = 0
for i = 1, 200000 do total = total + counters[i % 100 + 1](i % 7) end
print("closures", total)
local freq = {}
for i = 1, 200000 do local k = "k" .. (rnd() % 5000); freq[k] = (freq[k] or 0) + 1 end
local keys = {}
for k in pairs(freq) do keys[#keys + 1] = k end
table.sort(keys)
print("freq", #keys, keys[1], freq[keys[1]], keys[#keys], freq[keys[#keys]])

-- coroutines: a producer/consumer pipeline
local prod = coroutine.wrap(function()
  for i = 1, 50000 do coroutine.yield(string.pack("<i4s1", i, tostring(i * 3))) end
  coroutine.yield(nil)
end)
local n, bytes = 0, 0
while true do
  local item = prod()
  if not item then break end
  local v, str = string.unpack("<i4s1", item)
  n = n + v; bytes = bytes + #str
end
print("coroutine", n, bytes)
collectgarbage()
print("done")
