-- A stand-in for the part of FreeSWITCH's mod_lua that contrib/freeswitch/ficha.lua uses,
-- for tests/test_callshop_freeswitch.py. Run as
--   lua5.4 freeswitch_stub.lua SCRIPT URL TOKEN [name=value ...] -- [script args ...]
-- The name=value pairs are the channel's variables ("answered=true": the channel was
-- answered before the script, as after an IVR); with no pair "session" is absent, as
-- for an API command (the hangup hook). Whatever the script does to the channel is
-- printed one line each, fields separated by tabs: set NAME VALUE, execute APP DATA,
-- hangup CAUSE, log LEVEL TEXT. Its HTTP requests run the real curl command.
local script, url, token = arg[1], arg[2], arg[3]
local vars, args, i, with_session = {}, {}, 4, false
while arg[i] and arg[i] ~= "--" do
  local name, value = arg[i]:match("^([^=]+)=(.*)$")
  vars[name] = value
  with_session = true
  i = i + 1
end
for j = i + 1, #arg do args[#args + 1] = arg[j] end

local function emit(...)
  print((table.concat({...}, "\t"):gsub("\n", "\\n")))
end

freeswitch = {
  getGlobalVariable = function(name)
    if name == "ficha_url" then return url end
    if name == "ficha_token" then return token end
    return nil
  end,
  consoleLog = function(level, text) emit("log", level, text) end,
}

local hung_up = false
if with_session then
  session = {
    getVariable = function(_, name) return vars[name] end,
    setVariable = function(_, name, value)
      vars[name] = value
      emit("set", name, value)
    end,
    get_uuid = function(_) return vars.uuid end,
    answered = function(_) return vars.answered == "true" end,
    ready = function(_) return not hung_up end,
    execute = function(_, app, data) emit("execute", app, data or "") end,
    hangup = function(_, cause)
      hung_up = true
      emit("hangup", cause or "NORMAL_CLEARING")
    end,
  }
end

-- mod_lua passes the script's arguments as argv (argv[0] is the script's name).
argv = {[0] = script}
for j, value in ipairs(args) do argv[j] = value end
dofile(script)
