-- One fixed path (PATH env), e.g. the 1000th page's cursor URL.
local path = os.getenv("PATH_TO_GET")
request = function() return wrk.format("GET", path) end
