"""The wrk generator: the same closed loop as bench/load.py's, driven by a generated Lua script."""

from __future__ import annotations

import math
import re
import subprocess
import tempfile

from bench.load import Result, Target

_LUA = """
local n, concurrency = 0, {concurrency}
local body = {body}
wrk.method = "{method}"
{headers}
request = function()
  n = n + 1
  local b = nil
  if body then
    b = body:gsub("{{n}}", tostring(n)):gsub("{{m}}", tostring(n % concurrency))
  end
  return wrk.format(nil, "{path}", nil, b)
end
"""


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_wrk(url: str, target: Target, concurrency: int, warmup: float, duration: float) -> Result:
    headers = dict(target.headers)
    if target.body is not None:
        headers["Content-Type"] = "application/json"
    script = _LUA.format(
        concurrency=concurrency,
        body="nil" if target.body is None else _lua_string(target.body),
        method=target.method,
        path=target.path,
        headers="\n".join(
            f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()
        ),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()

        def wrk(seconds: float, *extra: str) -> str:
            secs = max(1, math.ceil(seconds))
            cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{secs}s", "--timeout", "10s", *extra]
            done = subprocess.run(
                [*cmd, "-s", lua.name, url], capture_output=True, text=True, timeout=secs + 30
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
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    if not m:
        raise RuntimeError(f"could not read wrk output:\n{out}")
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
    )


def _wrk_int(pattern: str, text: str) -> int:
    m = re.search(pattern, text)
    return int(m.group(1)) if m else 0


def _wrk_seconds(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def _wrk_latency(label: str, text: str) -> float:
    m = re.search(rf"^\s*{re.escape(label)}\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    return _wrk_seconds(m.group(1), m.group(2)) * 1000 if m else 0.0
