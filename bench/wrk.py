"""The wrk generator: the same closed loop as bench/load.py's, driven by a generated Lua script."""

from __future__ import annotations

import math
import re
import subprocess
import tempfile

from bench.load import NOTHING_CAPTURED, Result, Target, run_token

#: One Lua script for a single request and for a cycle (Target.then). A cycle runs one wrk
#: thread per connection: wrk shares a thread's Lua state between its connections and does not
#: say which connection asks for the next request, so per-connection state (the cycle's step,
#: the captured id, the connection's slot) needs a thread of its own.
_LUA = """
local concurrency, steps = {concurrency}, {{
{steps}
}}
{headers}
local next_slot, threads = 0, {{}}
function setup(thread)
  thread:set("slot", next_slot)
  next_slot = next_slot + 1
  table.insert(threads, thread)
end

local n, step, captured = 0, 1, ""
uncaptured = 0
function request()
  n = n + 1
  local s, b = steps[step], steps[step].body
  if b then
    local seq, i = n, n % concurrency  -- one thread: slots spread over its connections
    if #steps > 1 then seq, i = n * concurrency + slot, slot end
    b = b:gsub("{{n}}", tostring(seq)):gsub("{{m}}", tostring(i)):gsub("{{r}}", "{run}")
    b = b:gsub("{{id}}", captured)
  end
  return wrk.format(s.method, s.path, nil, b)
end

if #steps > 1 then
  function response(status, headers, body)
    if step == 1 then
      captured = body:match('"id"%s*:%s*"([^"]*)"')
      if not captured then
        captured, uncaptured = "{nothing}", uncaptured + 1
      end
    end
    step = step % #steps + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + (t:get("uncaptured") or 0) end
  io.write("bench-uncaptured: " .. total .. "\\n")
end
"""


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lua_script(target: Target, concurrency: int, run: str) -> str:
    headers = dict(target.headers)
    if any(step.body is not None for step in target.steps):
        headers["Content-Type"] = "application/json"
    return _LUA.format(
        concurrency=concurrency,
        steps=",\n".join(
            f"  {{method = {_lua_string(s.method)}, path = {_lua_string(s.path)}, "
            f"body = {'nil' if s.body is None else _lua_string(s.body)}}}"
            for s in target.steps
        ),
        headers="\n".join(
            f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()
        ),
        nothing=NOTHING_CAPTURED,
        run=run,
    )


REQUESTS = r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b"


def run_wrk(url: str, target: Target, concurrency: int, warmup: float, duration: float) -> Result:
    threads = concurrency if target.then else 1

    def wrk(seconds: float, *extra: str) -> str:
        """One wrk run. Each has its own `{r}` token: wrk leaves requests in flight when it
        stops, and a sync session's late release must not free what the next run's same
        session has just acquired again."""
        secs = max(1, math.ceil(seconds))
        cmd = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{secs}s", "--timeout", "10s"]
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
            lua.write(lua_script(target, concurrency, run_token()))
            lua.flush()
            done = subprocess.run(
                [*cmd, *extra, "-s", lua.name, url],
                capture_output=True,
                text=True,
                timeout=secs + 30,
            )
        if done.returncode != 0:
            raise RuntimeError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    warm = wrk(warmup) if warmup > 0 else ""
    out = wrk(duration, "--latency")
    non_2xx = _wrk_int(r"Non-2xx or 3xx responses:\s+(\d+)", warm) + _wrk_int(
        r"Non-2xx or 3xx responses:\s+(\d+)", out
    )
    errors = sum(
        sum(int(x) for x in m.groups())
        for text in (warm, out)
        if (m := re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", text))
    )
    m = re.search(REQUESTS, out)
    if not m:
        raise RuntimeError(f"could not read wrk output:\n{out}")
    warmed = re.search(REQUESTS, warm)
    return Result(
        generator="wrk",
        requests=int(m.group(1)),
        seconds=_wrk_seconds(m.group(2), m.group(3)),
        p50_ms=_wrk_latency("50%", out),
        p99_ms=_wrk_latency("99%", out),
        non_2xx=non_2xx,
        errors=errors,
        statuses={},
        sample=out.strip() if non_2xx or errors else "",
        steps=len(target.steps),
        uncaptured=sum(_wrk_int(r"(?m)^bench-uncaptured: (\d+)$", text) for text in (warm, out)),
        answered=int(m.group(1)) + (int(warmed.group(1)) if warmed else 0),
    )


def _wrk_int(pattern: str, text: str) -> int:
    m = re.search(pattern, text)
    return int(m.group(1)) if m else 0


def _wrk_seconds(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def _wrk_latency(label: str, text: str) -> float:
    m = re.search(rf"^\s*{re.escape(label)}\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    return _wrk_seconds(m.group(1), m.group(2)) * 1000 if m else 0.0
