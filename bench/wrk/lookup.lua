-- Autocomplete over 1M rows: a random 1- to 3-digit prefix of a customer id, 10 results.
math.randomseed(os.time())
request = function()
  local digits = math.random(1, 3)
  local q = "c-" .. tostring(math.random(1, 10 ^ digits - 1))
  return wrk.format("GET", "/lookups/customers?limit=10&q=" .. q)
end
