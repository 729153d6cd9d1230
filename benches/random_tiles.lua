-- wrk script: GET random tiles of one zoom level under random URL prefixes read from a file.
-- env: TILE_PREFIXES (file with one URL prefix per line, e.g. /tiles/<sid>/<rid>), TILE_Z, TILE_N (tiles per side)
local prefixes = {}
for line in io.lines(os.getenv("TILE_PREFIXES")) do
  prefixes[#prefixes + 1] = line -- an empty line is the empty prefix (tiles at the server root)
end
local z = os.getenv("TILE_Z")
local n = tonumber(os.getenv("TILE_N"))

function setup(thread)
  thread:set("seed", math.random(1, 1e9))
end

function init(args)
  math.randomseed(seed or os.time())
end

request = function()
  local p = prefixes[math.random(#prefixes)]
  return wrk.format("GET", p .. "/" .. z .. "/" .. math.random(0, n - 1) .. "/" .. math.random(0, n - 1) .. ".png")
end
