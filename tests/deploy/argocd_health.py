"""Running deploy/argocd/health.lua as Argo CD does (gopher-lua's sandbox, mirrored with lupa)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

lua51 = pytest.importorskip("lupa.lua51", reason="lupa (dev extra) runs the Lua health check")


REPO = Path(__file__).resolve().parents[2]


ARGOCD = REPO / "deploy" / "argocd"


SCRIPT = ARGOCD / "health.lua"


# Runs the script with its own globals: only what gopher-lua's base and table libraries offer, plus obj. Reading
# anything else is an error, so a typo or a string/math/os call fails here instead of quietly yielding nil (or
# working) in one runtime and not the other. The real globals stay untouched because lupa itself needs them.
RUNNER = """
function(source, object, open)
  if open then
    -- useOpenLibs (and Argo CD's built-in checks): every library is there, obj is one more global.
    local env = setmetatable({obj = object}, {__index = _G})
    local chunk = assert(loadstring(source, "=health.lua"))
    setfenv(chunk, env)
    return chunk()
  end
  local allowed = {
    "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall", "print", "rawequal", "rawget",
    "rawset", "select", "setmetatable", "tonumber", "tostring", "type", "unpack", "xpcall", "table", "_VERSION",
  }
  local env = {}
  for _, name in ipairs(allowed) do
    env[name] = _G[name]
  end
  env._G = env
  env.obj = object
  setmetatable(env, {__index = function(_, name) error("undefined global " .. tostring(name), 2) end})
  -- Strings keep a metatable whose __index is the string library, which gopher-lua without it lacks.
  getmetatable("").__index = nil
  local chunk = assert(loadstring(source, "=health.lua"))
  setfenv(chunk, env)
  return chunk()
end
"""


def to_lua(runtime: Any, value: Any) -> Any:
    """Convert like Argo CD's JSON-to-Lua decoding: 1-indexed arrays, every number a float, null dropped."""
    if isinstance(value, dict):
        table = runtime.table()
        for key, item in value.items():
            if item is not None:
                table[str(key)] = to_lua(runtime, item)
        return table
    if isinstance(value, list):
        table = runtime.table()
        for index, item in enumerate(value, start=1):
            table[index] = to_lua(runtime, item)
        return table
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    # An unquoted timestamp in a testdata file would be a date here but a string in the API: quote it.
    if isinstance(value, datetime.date):
        raise TypeError(f"quote the timestamp {value!r}: the API server returns timestamps as strings")
    raise TypeError(f"no JSON equivalent for {value!r}")


def run_health(obj: dict[str, Any], script: str | None = None, open_libs: bool = False) -> dict[str, Any]:
    """Argo CD's verdict on obj: closed libraries (Argo CD's default for custom checks) or open (useOpenLibs)."""
    runtime = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    runner = runtime.eval(RUNNER)
    result = runner(SCRIPT.read_text() if script is None else script, to_lua(runtime, obj), open_libs)
    assert lua51.lua_type(result) == "table", f"the script returned {result!r}, not a table"
    return {key: result[key] for key in ("status", "message")}
