"""`make bench`: the real server's speed as ratios against a baseline measured in the same run.

A run starts, on 127.0.0.1 and with the same gunicorn + uvicorn worker command and worker count:
the baseline (bare Starlette, bench/baseline.py), and the real server on SQLite, then on
PostgreSQL when the test server answers. Every scenario is measured right after its own baseline
measurement (a GET scenario after the baseline GET, a POST after the baseline JSON POST), so each
ratio compares two measurements seconds apart: the machine is shared, and its load comes in
bursts that a baseline taken at the start and end of the run does not cancel.

Each scenario reports requests/s, p50/p99 latency, non-2xx answers, the paired baseline's
requests/s and the ratio of the two. The table is printed and written to
bench-results/latest.json. The exit status is non-zero only when something failed (a non-2xx
answer where 2xx is expected, a server that did not start), never because of speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import scale
from bench.load import Result, Target, measure, wrk_path
from bench.scenarios import BASELINE_TARGETS, Scenario, app_scenarios, preflight, seed
from bench.servers import APP, BASELINE, postgres_database, postgres_reachable, serving
from harness.server import ROOT


@dataclass
class Outcome:
    server: str  # "sqlite", "postgres"
    scenario: str
    kind: str
    result: Result | None = None
    baseline: Result | None = None
    status: str = "ok"  # ok | error
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.result is None or self.baseline is None or not self.baseline.rps:
            return None
        return self.result.rps / self.baseline.rps

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"server": self.server, "scenario": self.scenario}
        out |= {"kind": self.kind, "status": self.status}
        if self.note:
            out["note"] = self.note
        if self.result is not None:
            out |= self.result.as_dict()
        if self.baseline is not None:
            out["baseline"] = self.baseline.as_dict()
        if self.ratio is not None:
            out["rps_vs_baseline"] = round(self.ratio, 4)
        return out


class Bench:
    def __init__(self, args: argparse.Namespace, baseline_url: str) -> None:
        self.args = args
        self.baseline_url = baseline_url
        self.outcomes: list[Outcome] = []

    def load(self, url: str, target: Target) -> Result:
        a = self.args
        return measure(
            a.generator,
            url,
            target,
            concurrency=a.concurrency,
            warmup=a.warmup,
            duration=a.duration,
            max_requests=a.max_requests,
        )

    def run(self, server: str, url: str, scenarios: list[Scenario]) -> None:
        for scenario in scenarios:
            o = Outcome(server, scenario.name, scenario.kind)
            o.status, o.note = preflight(url, scenario.target, self.args.concurrency)
            if o.status == "ok":
                o.baseline = self.load(self.baseline_url, BASELINE_TARGETS[o.kind])
                o.result = self.load(url, scenario.target)
                failed = [r for r in (o.baseline, o.result) if r.failed]
                if failed:
                    o.status, o.note = "error", failed[0].sample
            self.add(o)

    def add(self, o: Outcome) -> None:
        self.outcomes.append(o)
        print_row(o)

    def app(self, server: str, database_url: str, tmp: Path) -> None:
        token = "ax_admin_" + secrets.token_hex(20)
        admin = {"Authorization": f"Bearer {token}"}
        env = {"ALIEN_ADMIN_TOKEN": token}
        errors_before = self.errors()
        with serving(APP, database_url, tmp / server, self.args.workers, env) as live:
            try:
                self.run(server, live.url, app_scenarios(admin, seed(live.url, admin)))
            finally:
                if self.errors() != errors_before or not any(
                    o.server == server for o in self.outcomes
                ):
                    tail = live.log().strip()[-2000:].replace("\n", "\n    ")
                    print(f"  [{server} server log, last lines]\n    {tail}", flush=True)

    def check_baseline(self) -> bool:
        for kind, target in BASELINE_TARGETS.items():
            status, note = preflight(self.baseline_url, target, self.args.concurrency)
            if status != "ok":
                self.add(
                    Outcome("baseline", f"{kind} {target.path}", kind, status=status, note=note)
                )
        return not self.errors()

    def app_on(self, server: str, tmp: Path) -> None:
        try:
            if server == "sqlite":
                self.app(server, f"sqlite:///{tmp / 'sqlite' / 'alien.db'}", tmp)
            else:
                with postgres_database() as url:
                    self.app(server, url, tmp)
        except Exception as exc:  # report it, carry on with the next database, exit 1
            self.add(
                Outcome(server, "(start and seed)", "-", status="error", note=repr(exc)[:1500])
            )

    def errors(self) -> int:
        return sum(o.status == "error" for o in self.outcomes)


# -- report ------------------------------------------------------------------------------------

HEADER = (
    f"{'server':<9} {'scenario':<30} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>7} "
    f"{'base req/s':>10}  {'vs baseline':<16}"
)


def print_row(o: Outcome) -> None:
    if o.result is None:
        print(f"{o.server:<9} {o.scenario:<30} {o.status.upper()}: {o.note}", flush=True)
        return
    r, base, ratio = o.result, o.baseline, o.ratio
    shown = f"{ratio:.3f} (1/{1 / ratio:.1f})" if ratio else "-"
    line = (
        f"{o.server:<9} {o.scenario:<30} {r.rps:>8.1f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
        f"{r.non_2xx:>7} {base.rps if base else 0:>10.1f}  {shown:<16}"
    )
    print(line + (f"  ERROR: {o.note}" if o.status == "error" else ""), flush=True)


def baseline_spread(outcomes: list[Outcome]) -> dict[str, dict[str, float]]:
    samples: dict[str, list[float]] = {}
    for o in outcomes:
        if o.baseline is not None:
            samples.setdefault(o.kind, []).append(o.baseline.rps)
    return {
        kind: {"min": min(v), "median": statistics.median(v), "max": max(v), "n": len(v)}
        for kind, v in samples.items()
    }


def git_commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


# -- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per scenario")
    p.add_argument("--warmup", type=float, default=1.0, help="discarded seconds per scenario")
    p.add_argument("--concurrency", type=int, default=32, help="open connections")
    p.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    p.add_argument("--max-requests", type=int, default=500_000, help="cap per scenario")
    p.add_argument("--generator", choices=["auto", "python", "wrk"], default="auto")
    p.add_argument(
        "--db", choices=["auto", "sqlite", "postgres", "both"], default="auto",
        help="auto: SQLite, plus PostgreSQL when the test server answers",
    )  # fmt: skip
    p.add_argument("--out", type=Path, default=ROOT / "bench-results" / "latest.json")
    p.add_argument("--scale", action="store_true", help="also bench/scale.py: 100k vs 1k group")
    p.add_argument("--scale-only", action="store_true", help="only bench/scale.py")
    args = p.parse_args(argv)
    if args.generator == "auto":
        args.generator = "wrk" if wrk_path() else "python"
    elif args.generator == "wrk" and not wrk_path():
        p.error("wrk is not installed")
    if not (0 < args.duration <= 60 and 0 <= args.warmup <= 30 and 0 < args.concurrency <= 256):
        p.error("keep --duration in (0, 60], --warmup in [0, 30], --concurrency in (0, 256]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    databases = ["sqlite"] if args.db in ("auto", "sqlite", "both") else []
    pg_ok = postgres_reachable() if args.db != "sqlite" else False
    if args.db in ("postgres", "both") or (args.db == "auto" and pg_ok):
        databases.append("postgres")
    load_before = os.getloadavg()
    print(
        f"generator={args.generator} workers={args.workers} concurrency={args.concurrency} "
        f"warmup={args.warmup}s duration={args.duration}s cpus={os.cpu_count()} "
        f"loadavg={load_before[0]:.2f}"
    )
    if args.db == "auto" and not pg_ok:
        print("note: PostgreSQL not reachable (harness/pg.py admin URL); SQLite only")
    if args.scale_only:
        return scale.report(scale.run(databases, args.workers), args.out)
    print(HEADER, flush=True)

    started = time.time()
    with tempfile.TemporaryDirectory(prefix="alien-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with serving(BASELINE, "", tmp / "baseline", args.workers, {}) as baseline:
            bench = Bench(args, baseline.url)
            if bench.check_baseline():
                for server in databases:
                    bench.app_on(server, tmp)

    outcomes = bench.outcomes
    spread = baseline_spread(outcomes)
    for kind, s in spread.items():
        print(
            f"baseline {kind} req/s over the run: min {s['min']:.0f}, median {s['median']:.0f}, "
            f"max {s['max']:.0f} ({s['n']} samples)"
        )
    failed = [o for o in outcomes if o.status == "error"]
    report = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "commit": git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "python": platform.python_version(),
        },
        "settings": {
            "generator": args.generator,
            "workers": args.workers,
            "concurrency": args.concurrency,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
        },
        "baseline_rps_spread": spread,
        "runs": [o.as_dict() for o in outcomes],
        "ok": not failed,
    }
    if args.scale:
        scaled = scale.run(databases, args.workers)
        report |= {"scale": scaled, "ok": not failed and not any("error" in e for e in scaled)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    if failed:
        print(f"FAILED: {len(failed)} scenario(s) had errors (see above)", file=sys.stderr)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
