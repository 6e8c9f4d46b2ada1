"""`make bench`: the real server's speed as ratios against Stoplight Prism measured in the same run.

A run first times start-up to healthy (bench/startup.py), then starts, on 127.0.0.1: Prism
mocking the same spec (bench/prism.py; skipped without npm), the baseline (bare Starlette,
bench/baseline.py, with the same gunicorn + uvicorn worker command and worker count as the app),
and the real server on SQLite, then on PostgreSQL when the test server answers. Each scenario
is measured on Prism, then on ours, then on the baseline, seconds apart: the machine is shared,
and its load comes in bursts that references taken at the start and end of a run do not cancel.
`--runs N` repeats every scenario's three measurements N times; the summary is the median.

Each row reports requests/s, p50/p99 latency and non-2xx answers of ours, Prism's, and the
ratios ours/Prism, plus the paired baseline's requests/s and ours/baseline. The table is printed
and written to bench-results/latest.json. The exit status is non-zero only when something failed
(a non-2xx answer where 2xx is expected, from any side; an acquire that leased nothing; a server
that did not start), never because of speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import cpu, prism, report, scale
from bench.load import Result, Target, measure, wrk_path
from bench.report import HEADER, Outcome, print_row
from bench.scenarios import (
    BASELINE_TARGETS,
    SYNC_CYCLE_NOTE,
    Scenario,
    app_scenarios,
    deployments_needed,
    preflight,
    seed,
)
from bench.servers import APP, BASELINE, postgres_database, postgres_reachable, serving
from bench.startup import Startup, measure_startup
from harness.server import ROOT, LiveServer


class Bench:
    def __init__(self, args: argparse.Namespace, baseline_url: str, prism_url: str | None) -> None:
        self.args = args
        self.baseline_url = baseline_url
        self.prism_url = prism_url
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

    def run(self, server: str, live: LiveServer, scenarios: list[Scenario], run: int) -> None:
        """Each scenario on Prism, then on ours (with the CPU it cost), then the paired
        baseline request."""
        url = live.url
        for scenario in scenarios:
            o = Outcome(server, scenario.name, scenario.kind, run)
            o.status, o.note = preflight(url, scenario.target, must_capture=True)
            if o.status == "ok":
                if self.prism_url is not None:
                    status, note = preflight(self.prism_url, scenario.target, must_capture=False)
                    if status == "ok":
                        o.prism = self.load(self.prism_url, scenario.target)
                    else:
                        o.status, o.note = status, f"Prism: {note}"
                before = cpu.sample(live.pid)
                o.result = self.load(url, scenario.target)
                o.cpu = cpu.per_request(before, cpu.sample(live.pid), o.result.answered)
                o.baseline = self.load(self.baseline_url, BASELINE_TARGETS[o.kind])
                self.check(o)
            self.add(o)

    def check(self, o: Outcome) -> None:
        """Non-2xx answers and errors on any side, and (ours) cycles that acquired nothing."""
        sides = (("Prism", o.prism), ("ours", o.result), ("baseline", o.baseline))
        problems = [f"{name}: {r.sample[:500]}" for name, r in sides if r and r.failed]
        if o.result is not None and o.result.uncaptured:
            problems.append(f"ours: {o.result.uncaptured} cycle(s) acquired nothing")
        if problems:
            o.status, o.note = "error", "; ".join(filter(None, [o.note, *problems]))

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
                needed = deployments_needed(self.args.concurrency, self.args.runs)
                deployment_id = seed(live.url, admin, needed)
                scenarios = app_scenarios(admin, deployment_id)
                for run in range(1, self.args.runs + 1):
                    self.run(server, live, scenarios, run)
            finally:
                if self.errors() != errors_before or not any(
                    o.server == server for o in self.outcomes
                ):
                    tail = live.log().strip()[-2000:].replace("\n", "\n    ")
                    print(f"  [{server} server log, last lines]\n    {tail}", flush=True)

    def check_baseline(self) -> bool:
        for kind, target in BASELINE_TARGETS.items():
            status, note = preflight(self.baseline_url, target, must_capture=False)
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
    p.add_argument("--runs", type=int, default=1, help="repeat every scenario's measurements")
    p.add_argument("--starts", type=int, default=5, help="start-up timings (0: none)")
    p.add_argument("--no-prism", action="store_true", help="skip the Prism columns")
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
    if not (1 <= args.runs <= 20 and 0 <= args.starts <= 50):
        p.error("keep --runs in [1, 20] and --starts in [0, 50]")
    return args


@dataclass
class Measured:
    outcomes: list[Outcome]
    startup: Startup | None
    prism_note: str
    prism_measured: bool


def measure_all(args: argparse.Namespace, databases: list[str], tmp: Path) -> Measured:
    """Start-up timing, then the references (baseline, Prism), then every database's scenarios."""
    problems: list[Outcome] = []  # before the scenarios: start-up timing, Prism's start
    startup = None
    if args.starts:
        try:
            startup = measure_startup(args.starts, tmp / "startup", args.workers)
            print(startup.line(), flush=True)
        except Exception as exc:  # report it, carry on with the scenarios, exit 1
            problems.append(Outcome("sqlite", "(start-up timing)", "-", status="error",
                                    note=repr(exc)[:1500]))  # fmt: skip
    prism_exe, prism_note = None, "skipped (--no-prism)"
    if not args.no_prism:
        prism_exe, prism_note = prism.executable()
    print(f"prism: {prism_note}", flush=True)
    with ExitStack() as stack:
        baseline = stack.enter_context(serving(BASELINE, "", tmp / "baseline", args.workers, {}))
        prism_url = None
        if prism_exe is not None:
            try:
                prism_url = stack.enter_context(prism.serving(prism_exe, tmp / "prism"))
            except RuntimeError as exc:
                problems.append(Outcome("prism", "(start)", "-", status="error",
                                        note=str(exc)[:1500]))  # fmt: skip
        for o in problems:
            print_row(o)
        print(HEADER, flush=True)
        bench = Bench(args, baseline.url, prism_url)
        if bench.check_baseline():
            for server in databases:
                bench.app_on(server, tmp)
    return Measured(problems + bench.outcomes, startup, prism_note, prism_url is not None)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    databases = ["sqlite"] if args.db in ("auto", "sqlite", "both") else []
    pg_ok = postgres_reachable() if args.db != "sqlite" else False
    if args.db in ("postgres", "both") or (args.db == "auto" and pg_ok):
        databases.append("postgres")
    load_before = os.getloadavg()
    print(
        f"generator={args.generator} workers={args.workers} concurrency={args.concurrency} "
        f"warmup={args.warmup}s duration={args.duration}s runs={args.runs} "
        f"cpus={os.cpu_count()} loadavg={load_before[0]:.2f}"
    )
    if args.db == "auto" and not pg_ok:
        print("note: PostgreSQL not reachable (harness/pg.py admin URL); SQLite only")
    if args.scale_only:
        return scale.report(scale.run(databases, args.workers), args.out)
    print(f"note: {SYNC_CYCLE_NOTE}")

    started = time.time()
    with tempfile.TemporaryDirectory(prefix="alien-bench-") as tmp_name:
        measured = measure_all(args, databases, Path(tmp_name))

    outcomes, startup = measured.outcomes, measured.startup
    rows = report.summary(outcomes)
    pg_vs_lite = report.postgres_vs_sqlite(rows)
    report.print_summary(rows, pg_vs_lite)
    spread = report.baseline_spread(outcomes)
    for kind, s in spread.items():
        print(
            f"baseline {kind} req/s over the run: min {s['min']:.0f}, median {s['median']:.0f}, "
            f"max {s['max']:.0f} ({s['n']} samples)"
        )
    if startup is not None:
        print(startup.line())
    failed = [o for o in outcomes if o.status == "error"]
    document = {
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
            "runs": args.runs,
        },
        "prism": {
            "version": prism.VERSION,
            "measured": measured.prism_measured,
            "note": measured.prism_note,
        },
        "startup": startup.as_dict() if startup is not None else None,
        "sync_cycle": SYNC_CYCLE_NOTE,
        "baseline_rps_spread": spread,
        "runs": [o.as_dict() for o in outcomes],
        "summary": rows,
        "postgres_vs_sqlite": pg_vs_lite,
        "ok": not failed,
    }
    if args.scale:
        scaled = scale.run(databases, args.workers)
        document |= {"scale": scaled, "ok": not failed and not any("error" in e for e in scaled)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    if failed:
        print(f"FAILED: {len(failed)} scenario(s) had errors (see above)", file=sys.stderr)
    return 0 if document["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
