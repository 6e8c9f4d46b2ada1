"""Where a worker's time goes, by layer, from a py-spy profile (docs/performance.md).

    py-spy record --gil -r 250 -d 10 -f raw -o get.raw -p <worker pid>   # while a load runs
    python -m bench.layers get.raw
    python -m bench.layers --requests 6080 get.raw   # and the worker's requests in those 10 s

With `--requests` (what the worker answered while py-spy sampled) each layer is also given as
interpreter time per request: its samples / the rate (`--hz`, 250) / the requests.

`--gil` samples only the thread holding the GIL: the time the worker spends in Python, which is
what limits it. Each sample counts once, for the innermost frame that belongs to a layer (a
jsonschema frame under Connexion's response validation counts as validation, a peewee frame
under a handler as database). py-spy is not a dependency of the project: `pip install py-spy`.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

#: (layer, pattern on a frame's file) in the order they are tried, innermost frame first.
LAYERS: list[tuple[str, re.Pattern[str]]] = [
    (layer, re.compile(pattern))
    for layer, pattern in [
        ("database", r"peewee|psycopg|sqlite3|models/(db|engines|base|fields)\.py|playhouse"),
        ("auth", r"app/http/auth\.py|models/tokens\.py|models/revocation\.py|hashlib"),
        ("validation", r"jsonschema|referencing|rpds|app/contract/"
         r"|connexion/validators|connexion/json_schema|connexion/uri_parsing"),
        ("logging", r"logging/|app/serving/logs\.py"),
        ("metrics", r"prometheus_client|app/serving/metrics\.py"),
        ("handlers", r"handlers/|models/"),
        ("Flask", r"flask/|werkzeug/|connexion/apps/flask|connexion/decorators"
         r"|connexion/frameworks"),
        ("Flask bridge (thread hop)",
         r"app/http/bridge\.py|a2wsgi|concurrent/futures|threading\.py|queue\.py"),
        ("Connexion middleware", r"connexion/"),
        ("our middleware", r"app/http/"),
        ("Starlette", r"starlette/"),
        ("uvicorn and the socket", r"uvicorn|httptools|app/serving/|uvloop"),
        ("asyncio", r"asyncio/"),
    ]
]  # fmt: skip


def layer_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        where = frame.rsplit("(", 1)[-1]
        for layer, pattern in LAYERS:
            if pattern.search(where):
                return layer
    return "other"


def summarise(path: Path) -> tuple[Counter[str], int]:
    counts: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        counts[layer_of(stack.split(";"))] += int(n)
    return counts, total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.layers", description=__doc__.split("\n")[0])
    p.add_argument("profiles", nargs="+", type=Path, help="py-spy --format raw files")
    p.add_argument("--requests", type=int, help="requests answered while the profile was taken")
    p.add_argument("--hz", type=float, default=250.0, help="py-spy's sampling rate (-r)")
    args = p.parse_args(argv)
    for path in args.profiles:
        counts, total = summarise(path)
        print(f"{path.name}: {total} samples")
        for layer, n in counts.most_common():
            per_request = ""
            if args.requests:
                per_request = f"  {1e6 * n / args.hz / args.requests:7.1f} us/request"
            print(f"  {100 * n / total:5.1f}%{per_request}  {layer}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
