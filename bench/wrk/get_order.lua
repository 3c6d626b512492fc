-- GET /orders/{id} for a random id among the filled rows (ROWS env, default 10M).
local rows = tonumber(os.getenv("ROWS") or "10000000")
math.randomseed(os.time())
request = function()
  return wrk.format("GET", string.format("/orders/o-%07d", math.random(0, rows - 1)))
end
