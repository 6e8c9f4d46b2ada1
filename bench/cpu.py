"""CPU time per request: what the server's processes, and the database server's, spent.

Requests per second on this shared 2-core machine move by a quarter between runs; the CPU a
request costs moves far less, and it says where a difference between two set-ups comes from
(docs/performance.md compares PostgreSQL with SQLite this way). A sample is read from /proc
(Linux): user + system time of the gunicorn master and all its descendants, and of every process
called `postgres` on this machine (the local test server: its backends, WAL writer and
checkpointer; anything else it serves at the time is counted too). Elsewhere it reads nothing,
and the bench prints no CPU columns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICK = 1 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01


@dataclass(frozen=True)
class Sample:
    server: float  # seconds
    database: float


def _stats() -> list[tuple[int, int, str, float]]:
    """(pid, parent pid, command, CPU seconds) of every process that can be read."""
    out = []
    for entry in PROC.iterdir() if PROC.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        # after the name: state, ppid, ...; utime and stime are fields 14 and 15 of the line
        seconds = (int(fields[11]) + int(fields[12])) * TICK
        out.append((int(entry.name), int(fields[1]), name, seconds))
    return out


def sample(root: int) -> Sample | None:
    """The CPU seconds of process `root` and its descendants, and of `postgres` processes."""
    stats = _stats()
    if not stats:
        return None
    children: dict[int, list[int]] = {}
    for pid, ppid, _, _ in stats:
        children.setdefault(ppid, []).append(pid)
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree.add(pid)
            todo.extend(children.get(pid, ()))
    return Sample(
        server=sum(cpu for pid, _, _, cpu in stats if pid in tree),
        database=sum(cpu for _, _, name, cpu in stats if name == "postgres"),
    )


def per_request(before: Sample | None, after: Sample | None, answered: int) -> dict[str, float]:
    """Microseconds of CPU per answered request between two samples ({} when unknown)."""
    if before is None or after is None or answered <= 0:
        return {}
    return {
        "server_us": round((after.server - before.server) / answered * 1e6, 1),
        "database_us": round((after.database - before.database) / answered * 1e6, 1),
    }
