"""Closed-loop load generators: wrk when installed, else a small asyncio HTTP/1.1 client.

Both keep `concurrency` keep-alive connections busy, each sending its next request as soon as the
previous answer is read, for `warmup` seconds (discarded) and then `duration` seconds (measured).
Each stops by itself: by the clock, by a cap on the number of requests, and by a hard timeout.

The Python generator speaks raw HTTP/1.1 over asyncio streams rather than going through httpx:
on this machine an httpx AsyncClient tops out near 250-400 requests/s, below the server under
test, so it would have measured itself. The raw client reaches about 10k/s against the bare
Starlette baseline, an order of magnitude above the real server.
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

#: Placeholders a body template may hold: `{n}` the request's sequence number (unique within a
#: scenario), `{m}` a slot, 0 to concurrency - 1, spread over the connections and in a cycle
#: the connection's own (e.g. one sync session per connection), `{r}` a token unique to one
#: generator run (wrk's warm-up and measured runs are two), `{id}` in a follow-up request: the
#: id the cycle's first answer held (CAPTURE).
COUNTER, SLOT, RUN, CAPTURED = "{n}", "{m}", "{r}", "{id}"
#: What a cycle's first answer is searched for: the first "id" member (an acquire answer's
#: leased deployment). bench/wrk.py's Lua script uses the same pattern in Lua's syntax.
CAPTURE = re.compile(r'"id"\s*:\s*"([^"]*)"')
#: What `{id}` becomes when the first answer held none (Prism's acquire example leases nothing).
NOTHING_CAPTURED = "none"


@dataclass(frozen=True)
class Target:
    """A request, or with `then` a cycle of requests: each connection sends the target, then
    each follow-up in order (each after the previous answer), then starts the cycle again."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # a template, see COUNTER, SLOT and CAPTURED
    then: tuple[Target, ...] = ()

    @property
    def steps(self) -> tuple[Target, ...]:
        return (self, *self.then)

    def render_body(self, n: int, slot: int, captured: str = "", run: str = "") -> str | None:
        if self.body is None:
            return None
        body = self.body.replace(COUNTER, str(n)).replace(SLOT, str(slot))
        return body.replace(RUN, run).replace(CAPTURED, captured)


def run_token() -> str:
    return secrets.token_hex(4)


def captured_id(answer: str) -> str | None:
    m = CAPTURE.search(answer)
    return m.group(1) if m else None


@dataclass
class Result:
    generator: str
    requests: int  # completed inside the measured window
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int  # over warm-up and measured window together
    errors: int  # connection errors and timeouts
    statuses: dict[str, int]
    sample: str = ""  # first unexpected answer or error, for the report
    steps: int = 1  # requests per cycle (Target.then); requests/s counts every request
    uncaptured: int = 0  # cycles whose first answer held no id (see CAPTURE)
    answered: int = 0  # every answer, warm-up included (what the server's CPU time was spent on)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> bool:
        return self.non_2xx > 0 or self.errors > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "non_2xx": self.non_2xx,
            "errors": self.errors,
            "statuses": self.statuses,
            "sample": self.sample,
        } | (
            {
                "requests_per_cycle": self.steps,
                "cycles_per_s": round(self.rps / self.steps, 1),
                "uncaptured": self.uncaptured,
            }
            if self.steps > 1
            else {}
        )


def wrk_path() -> str | None:
    return shutil.which("wrk")


def measure(
    generator: str,
    url: str,
    target: Target,
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    max_requests: int,
) -> Result:
    if generator == "wrk":
        from bench.wrk import run_wrk

        return run_wrk(url, target, concurrency, warmup, duration)
    return _run(_python(url, target, concurrency, warmup, duration, max_requests))


# -- the asyncio generator -------------------------------------------------------------------


def _run(coro: Coroutine[Any, Any, Result]) -> Result:
    runner: Callable[[Coroutine[Any, Any, Result]], Result] = asyncio.run
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        pass
    return runner(coro)


class _State:
    def __init__(self, target: Target, concurrency: int, max_requests: int) -> None:
        self.target = target
        self.concurrency = concurrency
        self.max_requests = max_requests
        self.sent = 0
        self.run = run_token()
        self.uncaptured = 0
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors = 0
        self.sample = ""
        self.measure_from = self.stop_at = 0.0

    def encode(self, t: Target, host: str, slot: int, captured: str) -> bytes:
        body = (t.render_body(self.sent, slot, captured, self.run) or "").encode()
        lines = [f"{t.method} {t.path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{k}: {v}" for k, v in t.headers.items()]
        if t.body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        chunks = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")  # no trailers expected
        body = b"".join(chunks)
    else:
        return status, await reader.read(1 << 20), False
    return status, body, headers.get("connection") != "close"


async def _connection(state: _State, host: str, port: int, slot: int) -> None:
    writer: asyncio.StreamWriter | None = None
    steps, step, captured = state.target.steps, 0, ""
    try:
        while time.perf_counter() < state.stop_at and state.sent < state.max_requests:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            state.sent += 1
            payload = state.encode(steps[step], f"{host}:{port}", slot, captured)
            start = time.perf_counter()
            writer.write(payload)
            status, body, keep_alive = await _read_response(reader)
            end = time.perf_counter()
            state.statuses[status] += 1
            if not 200 <= status < 300 and not state.sample:
                state.sample = f"{status} {body[:300].decode(errors='replace')}"
            if start >= state.measure_from and end <= state.stop_at:
                state.latencies.append(end - start)
            if step == 0 and len(steps) > 1:
                captured = captured_id(body.decode(errors="replace")) or NOTHING_CAPTURED
                state.uncaptured += captured == NOTHING_CAPTURED
            step = (step + 1) % len(steps)
            if not keep_alive:
                writer.close()
                writer = None
    except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
        state.errors += 1
        state.sample = state.sample or f"connection error: {exc!r}"
    finally:
        if writer is not None:
            writer.close()


async def _python(
    url: str, target: Target, concurrency: int, warmup: float, duration: float, max_requests: int
) -> Result:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    state = _State(target, concurrency, max_requests)
    state.measure_from = time.perf_counter() + warmup
    state.stop_at = state.measure_from + duration
    tasks = [
        asyncio.create_task(_connection(state, host, int(port), slot))
        for slot in range(concurrency)
    ]
    done, pending = await asyncio.wait(tasks, timeout=warmup + duration + 30)
    for task in pending:  # a server that stopped answering: count it, do not wait forever
        task.cancel()
        state.errors += 1
        state.sample = state.sample or "timed out waiting for an answer"
    await asyncio.gather(*pending, return_exceptions=True)
    elapsed = min(time.perf_counter(), state.stop_at) - state.measure_from
    lat = sorted(state.latencies)
    return Result(
        generator="python-asyncio",
        requests=len(lat),
        seconds=max(elapsed, 0.0),
        p50_ms=_quantile(lat, 0.50) * 1000,
        p99_ms=_quantile(lat, 0.99) * 1000,
        non_2xx=sum(n for s, n in state.statuses.items() if not 200 <= s < 300),
        errors=state.errors,
        statuses={str(s): n for s, n in sorted(state.statuses.items())},
        sample=state.sample,
        steps=len(target.steps),
        uncaptured=state.uncaptured,
        answered=sum(state.statuses.values()),
    )


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] if ordered else 0.0
