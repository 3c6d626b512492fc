-- A filtered, sorted page of 50: one status, newest first.
local statuses = {"Created", "Paid", "Packed", "Shipped", "Delivered", "Cancelled"}
math.randomseed(os.time())
request = function()
  local s = statuses[math.random(1, #statuses)]
  return wrk.format("GET", "/orders?status=" .. s .. "&sort=-updated_at&limit=50")
end
