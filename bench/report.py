"""What a run reports: one row per measured scenario, the medians over runs, PostgreSQL/SQLite.

Ratios are ours/reference: for requests/s above 1 is faster than the reference, for latency
(p50, p99) above 1 is slower. The sync cycle's row counts every request (3 per cycle) and its
latencies are per request.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from bench.load import Result


@dataclass
class Outcome:
    server: str  # "sqlite", "postgres"
    scenario: str
    kind: str
    run: int = 1
    result: Result | None = None  # ours
    prism: Result | None = None
    baseline: Result | None = None
    status: str = "ok"  # ok | error
    note: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # ours, per request (bench/cpu.py)

    def versus(self, reference: Result | None) -> dict[str, float] | None:
        r = self.result
        if r is None or reference is None or not reference.rps or not r.rps:
            return None
        return {
            "rps": r.rps / reference.rps,
            "p50": r.p50_ms / reference.p50_ms if reference.p50_ms else 0.0,
            "p99": r.p99_ms / reference.p99_ms if reference.p99_ms else 0.0,
        }

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"server": self.server, "run": self.run}
        out |= {"scenario": self.scenario, "kind": self.kind, "status": self.status}
        if self.note:
            out["note"] = self.note
        if self.result is not None:
            out |= self.result.as_dict()
        if self.cpu:
            out["cpu_per_request"] = self.cpu
        for name, reference in (("prism", self.prism), ("baseline", self.baseline)):
            if reference is not None:
                out[name] = reference.as_dict()
            if (ratios := self.versus(reference)) is not None:
                out[f"vs_{name}"] = {k: round(v, 4) for k, v in ratios.items()}
        if (base := self.versus(self.baseline)) is not None:
            out["rps_vs_baseline"] = round(base["rps"], 4)  # kept from the first report shape
        return out


HEADER = (
    f"{'server':<8} {'run':>3} {'scenario':<30} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
    f"{'non2xx':>6} | {'Prism r/s':>9} {'p50':>6} {'p99':>6} | "
    f"{'ours/Prism: r/s':>15} {'p50':>5} {'p99':>5} | {'base r/s':>8} {'ours/base':>9}"
)


def print_row(o: Outcome) -> None:
    head = f"{o.server:<8} {o.run:>3} {o.scenario:<30}"
    r = o.result
    if r is None:
        print(f"{head} {o.status.upper()}: {o.note}", flush=True)
        return
    line = f"{head} {r.rps:>7.1f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} {r.non_2xx:>6} | "
    if (p := o.prism) is not None:
        line += f"{p.rps:>9.1f} {p.p50_ms:>6.1f} {p.p99_ms:>6.1f} | "
    else:
        line += f"{'-':>9} {'-':>6} {'-':>6} | "
    if (vs := o.versus(o.prism)) is not None:
        line += f"{vs['rps']:>15.2f} {vs['p50']:>5.2f} {vs['p99']:>5.2f} | "
    else:
        line += f"{'-':>15} {'-':>5} {'-':>5} | "
    base, vs = o.baseline, o.versus(o.baseline)
    line += f"{base.rps if base else 0:>8.1f} {vs['rps'] if vs else 0:>9.3f}"
    print(line + (f"  ERROR: {o.note}" if o.status == "error" else ""), flush=True)


def summary(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """Per server and scenario, the median over runs of ours and of each ratio."""
    groups: dict[tuple[str, str], list[Outcome]] = {}
    for o in outcomes:
        if o.result is not None:
            groups.setdefault((o.server, o.scenario), []).append(o)
    rows = []
    for (server, scenario), group in groups.items():
        row: dict[str, Any] = {"server": server, "scenario": scenario, "runs": len(group)}
        results = [o.result for o in group if o.result is not None]
        row |= {
            key: round(statistics.median(getattr(r, key) for r in results), 3)
            for key in ("rps", "p50_ms", "p99_ms")
        }
        cpu = [o.cpu for o in group if o.cpu]
        if cpu:
            row["cpu_per_request"] = {k: statistics.median(c[k] for c in cpu) for k in cpu[0]}
        for name in ("prism", "baseline"):
            ratios = [v for o in group if (v := o.versus(getattr(o, name))) is not None]
            if ratios:
                row[f"vs_{name}"] = {
                    k: round(statistics.median(v[k] for v in ratios), 4) for k in ratios[0]
                }
        rows.append(row)
    return rows


def postgres_vs_sqlite(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per scenario, PostgreSQL's median over SQLite's (target: requests/s ratio >= 0.8)."""
    by = {(r["server"], r["scenario"]): r for r in rows}
    out = {}
    for (server, scenario), pg in by.items():
        lite = by.get(("sqlite", scenario))
        if server == "postgres" and lite and lite["rps"]:
            out[scenario] = {
                "rps": round(pg["rps"] / lite["rps"], 4),
                "p50": round(pg["p50_ms"] / lite["p50_ms"], 4) if lite["p50_ms"] else 0.0,
                "p99": round(pg["p99_ms"] / lite["p99_ms"], 4) if lite["p99_ms"] else 0.0,
            }
    return out


def print_summary(rows: list[dict[str, Any]], pg_vs_lite: dict[str, dict[str, float]]) -> None:
    if not rows:
        return
    runs = max(r["runs"] for r in rows)
    print(f"\nmedians over {runs} run(s); ratios are ours/reference (p50, p99: above 1 is slower)")
    print(
        f"{'server':<8} {'scenario':<30} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} | "
        f"{'ours/Prism: r/s':>15} {'p50':>5} {'p99':>5} | {'ours/base r/s':>13}"
    )
    for r in rows:
        p, b = r.get("vs_prism"), r.get("vs_baseline")
        prism = f"{p['rps']:>15.2f} {p['p50']:>5.2f} {p['p99']:>5.2f}" if p else f"{'-':>27}"
        print(
            f"{r['server']:<8} {r['scenario']:<30} {r['rps']:>7.1f} {r['p50_ms']:>7.2f} "
            f"{r['p99_ms']:>7.2f} | {prism} | {b['rps'] if b else 0:>13.3f}"
        )
    cpu_rows = [r for r in rows if "cpu_per_request" in r]
    if cpu_rows:
        print("\nCPU per request, median (us): the server's processes | the database server's")
        for r in cpu_rows:
            c = r["cpu_per_request"]
            database = f"{c['database_us']:>8.0f}" if r["server"] == "postgres" else f"{'-':>8}"
            print(f"{r['server']:<8} {r['scenario']:<30} {c['server_us']:>8.0f} | {database}")
    for scenario, v in pg_vs_lite.items():
        verdict = "ok" if v["rps"] >= 0.8 else "BELOW 0.8"
        print(
            f"PostgreSQL/SQLite {scenario:<30} req/s {v['rps']:.2f} ({verdict}), "
            f"p50 {v['p50']:.2f}, p99 {v['p99']:.2f}"
        )


def baseline_spread(outcomes: list[Outcome]) -> dict[str, dict[str, float]]:
    samples: dict[str, list[float]] = {}
    for o in outcomes:
        if o.baseline is not None:
            samples.setdefault(o.kind, []).append(o.baseline.rps)
    return {
        kind: {"min": min(v), "median": statistics.median(v), "max": max(v), "n": len(v)}
        for kind, v in samples.items()
    }
