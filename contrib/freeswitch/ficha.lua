-- FreeSWITCH: Ficha's booth calls (mod_lua; uses the curl command).
--
-- In the dialplan (see docs/callshop.md):
--   <action application="lua" data="ficha.lua authorize ${destination_number}"/>
--   <action application="bridge" data="sofia/gateway/trunk/${destination_number}"/>
-- The script asks POST /api/v1/calls/authorize (booth = the caller's accountcode, else its
-- SIP user; the call's uuid is the PBX call id, so its CDR is never charged twice). When
-- refused it hangs up; when allowed it schedules a hangup at the granted talk time after
-- the answer and sets a hangup hook that runs "ficha.lua end ID BILLSEC", which reports
-- the talk time to POST /api/v1/calls/{id}/end (debited exactly once; a retry is harmless).
--
-- Optional channel variables before it: ficha_account, ficha_account_pin, ficha_pin
-- (a calling-card PIN, e.g. read with play_and_get_digits).
-- Configuration, global variables in vars.xml (an API token with the role "pbx"):
--   <X-PRE-PROCESS cmd="set" data="ficha_url=https://ficha.example"/>
--   <X-PRE-PROCESS cmd="set" data="ficha_token=..."/>

local function clean(text)  -- only what a booth id, number, id or PIN may hold
  return (tostring(text or ""):gsub("[^%w%.%+%-_@/]", ""))
end

local function json_field(body, name)
  local value = body:match('"' .. name .. '"%s*:%s*"(.-)"')
  if value == nil then value = body:match('"' .. name .. '"%s*:%s*([%w%.%-]+)') end
  return value
end

local function post(path, json)
  local url = freeswitch.getGlobalVariable("ficha_url") or ""
  local token = freeswitch.getGlobalVariable("ficha_token") or ""
  local cmd = "curl -s -m 5 -X POST -H 'Content-Type: application/json' " ..
    "-H 'Authorization: Bearer " .. clean(token) .. "' " ..
    "--data '" .. json .. "' '" .. url:gsub("'", "") .. path .. "'"
  local pipe = io.popen(cmd)
  local body = pipe:read("*a") or ""
  pipe:close()
  return body
end

local action = argv[1]

if action == "end" then  -- run by the hangup hook (no session): ID BILLSEC
  local call_id, billsec = clean(argv[2]), tonumber(argv[3] or "0") or 0
  if call_id:match("^%d+$") then
    for _ = 1, 3 do
      if post("/api/v1/calls/" .. call_id .. "/end", '{"billsec":' .. billsec .. '}') ~= ""
      then break end
    end
  end
  return
end

-- authorize NUMBER
local number = argv[2] or session:getVariable("destination_number")
local booth = session:getVariable("accountcode")
if booth == nil or booth == "" then booth = session:getVariable("sip_from_user") end
local payload = string.format('{"booth":"%s","number":"%s","call_id":"%s"',
  clean(booth), clean(number), clean(session:get_uuid()))
for _, name in ipairs({"account", "account_pin", "pin"}) do
  local value = session:getVariable("ficha_" .. name)
  if value and value ~= "" then
    payload = payload .. string.format(',"%s":"%s"', name, clean(value))
  end
end
payload = payload .. "}"

local answer = post("/api/v1/calls/authorize", payload)
local allowed = json_field(answer, "allowed") == "true"
local seconds = tonumber(json_field(answer, "max_seconds") or "0") or 0
local call_id = json_field(answer, "id")
session:setVariable("ficha_reason", json_field(answer, "reason") or "error")
if not allowed or seconds <= 0 or call_id == nil then
  freeswitch.consoleLog("NOTICE", "ficha: call refused: " .. answer .. "\n")
  session:execute("playback", "ivr/ivr-call_cannot_be_completed_as_dialed.wav")
  session:hangup("CALL_REJECTED")
  return
end
session:setVariable("ficha_call_id", call_id)
session:setVariable("ficha_max_seconds", tostring(seconds))
-- The talk time counts from the answer: the hangup is scheduled then.
session:setVariable("execute_on_answer", "sched_hangup +" .. seconds .. " ALLOTTED_TIMEOUT")
-- At hangup, with the call's billsec (setVariable stores the text as it is: the
-- variables are expanded when the hook runs).
session:setVariable("api_hangup_hook", "lua ficha.lua end ${ficha_call_id} ${billsec}")
