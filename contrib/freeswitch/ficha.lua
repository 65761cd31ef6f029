-- FreeSWITCH: Ficha's booth calls (mod_lua; uses the curl command).
--
-- In the dialplan (see docs/callshop.md):
--   <action application="lua"
--     data="ficha.lua authorize ${destination_number} sofia/gateway/trunk/${destination_number}"/>
-- The script asks POST /api/v1/calls/authorize (booth = the caller's accountcode, else its
-- SIP user; the call's uuid is the PBX call id, so its CDR is never charged twice). When
-- refused it hangs up; when allowed it schedules a hangup at the granted talk time after
-- the answer, sets a hangup hook that runs "ficha.lua end ID BILLSEC ...", which reports
-- the talk time to POST /api/v1/calls/{id}/end (debited exactly once; a retry is harmless),
-- and bridges the call to the dial string that follows the number.
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

-- POST the JSON; answers the body and the HTTP status (0: no answer at all).
local function post(path, json)
  local url = freeswitch.getGlobalVariable("ficha_url") or ""
  local token = freeswitch.getGlobalVariable("ficha_token") or ""
  local cmd = "curl -s -m 5 -X POST -H 'Content-Type: application/json' " ..
    "-H 'Authorization: Bearer " .. clean(token) .. "' " ..
    "-w '\\n%{http_code}' " ..
    "--data '" .. json .. "' '" .. url:gsub("'", "") .. path .. "'"
  local pipe = io.popen(cmd)
  local output = pipe:read("*a") or ""
  pipe:close()
  local body, status = output:match("^(.*)\n(%d%d%d)%s*$")
  return body or "", tonumber(status) or 0
end

local action = argv[1]

if action == "end" then  -- run by the hangup hook (no session): ID BILLSEC bridge=E end=E
  local call_id, billsec = clean(argv[2]), tonumber(argv[3] or "0") or 0
  local epochs = {}
  for i = 4, #argv do
    local name, value = tostring(argv[i]):match("^(%a+)=(%d*)$")
    if name then epochs[name] = tonumber(value) end
  end
  -- The talk time is from the bridge (the callee's answer) to the end: a channel
  -- answered earlier (a PIN read first) has a billsec that counts the prompts too,
  -- and a call never bridged was not talked at all.
  if epochs.bridge ~= nil and epochs["end"] ~= nil then
    local talked = 0
    if epochs.bridge > 0 then talked = math.max(0, epochs["end"] - epochs.bridge) end
    billsec = math.min(billsec, talked)
  end
  if call_id:match("^%d+$") then
    for _ = 1, 3 do  -- retried when Ficha did not answer or failed (5xx): harmless twice
      local _, status = post("/api/v1/calls/" .. call_id .. "/end",
        '{"billsec":' .. math.floor(billsec) .. '}')
      if status >= 200 and status < 500 then break end
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
-- A 4xx answers {"detail": ..., "code": ...}; no answer at all is "error".
session:setVariable("ficha_reason",
  json_field(answer, "reason") or json_field(answer, "code") or "error")
session:setVariable("ficha_message",
  json_field(answer, "message") or json_field(answer, "detail") or "")
if not allowed or seconds <= 0 or call_id == nil or not call_id:match("^%d+$") then
  freeswitch.consoleLog("NOTICE", "ficha: call refused: " .. answer .. "\n")
  session:execute("playback", "ivr/ivr-call_cannot_be_completed_as_dialed.wav")
  session:hangup("CALL_REJECTED")
  return
end
session:setVariable("ficha_call_id", call_id)
session:setVariable("ficha_max_seconds", tostring(seconds))
-- The talk time counts from the answer: the hangup is scheduled then. A channel answered
-- already (a PIN read first) is cut that long from now, ringing included (never later).
if session:answered() then
  session:execute("sched_hangup", "+" .. seconds .. " ALLOTTED_TIMEOUT")
else
  session:setVariable("execute_on_answer", "sched_hangup +" .. seconds .. " ALLOTTED_TIMEOUT")
end
-- At hangup, with the call's billsec and its bridge and end times (setVariable stores
-- the text as it is: the variables are expanded when the hook runs).
session:setVariable("api_hangup_hook", "lua ficha.lua end ${ficha_call_id} ${billsec}" ..
  " bridge=${bridge_epoch} end=${end_epoch}")
-- The script dials itself (the rest of its arguments), so a script that fails never
-- lets an unauthorized call through.
local dial = table.concat(argv, " ", 3)
if dial ~= "" then session:execute("bridge", dial) end
