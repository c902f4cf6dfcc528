-- osflow-channels.lua: osflow's channel lookup for Apache httpd (mod_lua),
-- the same as osflow's own server (integrations/repo/handler.go):
-- BASEURL/<channel>/<path> is served from STORE/channels/<channel>/<path>;
-- a file missing there comes from <channel>.prev, then from the releases of
-- the channel's last switches (newest first, at most 8) as its audit log
-- <channel>.log names them. A client that read repomd.xml just before a
-- switch, or before a quick switch and rollback, still finds every file.
--
-- httpd-osflow-channels.conf hooks it in with
--   LuaHookTranslateName /etc/apache2/osflow-channels.lua translate early
-- The store is the parent of DocumentRoot (STORE/channels).

local FALLBACK_RELEASES = 8 -- as in handler.go

-- Names as integrations/repo/names.go allows them.
local CHANNEL, REPO, ID = "^[a-z][a-z0-9_-]*$", "^[a-z0-9][a-z0-9._-]*$", "^[a-z0-9][a-z0-9_-]*$"
local function valid(name, pattern)
  return #name <= 200 and name:match(pattern) ~= nil
end

local function exists(r, path)
  return r:stat(path) ~= nil
end

-- recent_releases returns the "to" and "from" releases of the channel's
-- last switches, newest first, without duplicates. As in the Go handler, a
-- log it cannot read, or a line osflow could not have written, gives no
-- fallback at all rather than a guess. osflow writes one JSON object per
-- line and escapes every quote inside strings, so "to" and "from" with
-- real quotes are only ever keys.
local function recent_releases(store, channel)
  local f = io.open(store .. "/channels/" .. channel .. ".log", "r")
  if not f then
    return {}
  end
  local log = {}
  for line in f:lines() do
    if line:match("%S") then
      local to = line:match('"to"%s*:%s*"([^"\\]*)"')
      local from = line:match('"from"%s*:%s*"([^"\\]*)"')
      if not line:match("^%s*{.*}%s*$") or to == nil or from == nil then
        f:close()
        return {}
      end
      log[#log + 1] = { to, from }
    end
  end
  f:close()
  local out, seen = {}, {}
  for i = #log, 1, -1 do
    if #out >= FALLBACK_RELEASES then
      break
    end
    for _, rel in ipairs(log[i]) do
      if rel ~= "" and not seen[rel] and valid(rel, ID) then
        seen[rel] = true
        out[#out + 1] = rel
      end
    end
  end
  return out
end

-- translate maps the URI to a file in the store (translate_name hook).
function translate(r)
  local channel, rest = r.uri:match("^/([^/]+)/(.*)$")
  if channel == nil or not valid(channel, CHANNEL) then
    return 404
  end
  local repo = rest:match("^([^/]+)")
  if repo ~= nil and not valid(repo, REPO) then
    return 404
  end
  local store = r.document_root:gsub("/channels/?$", "")
  local current = store .. "/channels/" .. channel .. "/" .. rest
  r.filename = current
  if rest == "" or exists(r, current) then
    return apache2.OK
  end
  local prev = store .. "/channels/" .. channel .. ".prev/" .. rest
  if exists(r, prev) then
    r.filename = prev
    return apache2.OK
  end
  for _, rel in ipairs(recent_releases(store, channel)) do
    local old = store .. "/releases/" .. rel .. "/" .. rest
    if exists(r, old) then
      r.filename = old
      return apache2.OK
    end
  end
  return apache2.OK -- the current path, which does not exist: 404
end
