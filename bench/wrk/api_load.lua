-- wrk script of `python -m bench api`: one GET per request on the path template in
-- LGSP_WRK_PATH, where {key} is replaced by a random line of the file LGSP_WRK_KEYS and
-- {value} by a random line of LGSP_WRK_VALUES; when LGSP_WRK_TOKEN is set, the request
-- carries it as a bearer token with the purpose in LGSP_WRK_PURPOSE (the agency API's
-- LGSP-Purpose header). Every wrk thread runs this file in its own Lua state.

local function lines(path)
  local out = {}
  if path ~= nil and path ~= "" then
    for line in io.lines(path) do
      if line ~= "" then out[#out + 1] = line end
    end
  end
  return out
end

local template = os.getenv("LGSP_WRK_PATH") or "/"
local keys = lines(os.getenv("LGSP_WRK_KEYS"))
local values = lines(os.getenv("LGSP_WRK_VALUES"))
local token = os.getenv("LGSP_WRK_TOKEN") or ""
local purpose = os.getenv("LGSP_WRK_PURPOSE") or ""
local headers = {}
if token ~= "" then
  headers["Authorization"] = "Bearer " .. token
  headers["LGSP-Purpose"] = purpose
end

local started = 0
function setup(thread)
  started = started + 1
  thread:set("thread_number", started)
end

function init(args)
  math.randomseed(os.time() * 100 + (thread_number or 0))
end

function request()
  local path = template
  if #keys > 0 then path = path:gsub("{key}", keys[math.random(#keys)]) end
  if #values > 0 then path = path:gsub("{value}", values[math.random(#values)]) end
  return wrk.format("GET", path, headers)
end
