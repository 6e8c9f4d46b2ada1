"""`make test`'s two passes of the suite, on SQLite and on PostgreSQL, run side by side.

Most of the suite's time is spent waiting (for live servers to start, drain and stop, for
leases and caches to expire), so on a small machine the two passes overlap well: together they
take little more than the longer one alone. Each pass is its own `make test-sqlite` /
`make test-postgres` (its own pytest, its own temp directories and PostgreSQL database, its
own coverage data files), so they share nothing but the machine.

The log reads as two passes one after the other: the SQLite pass prints as it runs; the
PostgreSQL pass writes to a file (named at the start, to follow it meanwhile) that is printed
whole once it ends. The exit status is non-zero when either pass failed, and a last line says
which. When no PostgreSQL server answers, its pass is skipped with one line, or is a failure
(before anything runs) when `ALIEN_REQUIRE_POSTGRES` is set, as CI sets it.

Usage (the Makefile's): `python -m harness.passes MAKE`, MAKE being the make to call back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from harness import pg


def main(make: str) -> int:
    recipe = [make, "--no-print-directory"]
    if not pg.reachable():
        if os.environ.get("ALIEN_REQUIRE_POSTGRES"):
            print(
                "PostgreSQL suite required but no server answers (ALIEN_TEST_POSTGRES_URL)",
                flush=True,
            )
            return 1
        print(
            f"SKIPPED: PostgreSQL suite, no server at {pg.admin_url()} (see 'make test-postgres')",
            flush=True,
        )
        return subprocess.call([*recipe, "test-sqlite"])

    with tempfile.NamedTemporaryFile(prefix="alien-test-postgres-", suffix=".log") as log:
        print(
            f"make test: the PostgreSQL pass runs alongside, into {log.name}; printed after",
            flush=True,
        )
        postgres = subprocess.Popen(
            [*recipe, "test-postgres"], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            print("=" * 34 + " SQLite pass " + "=" * 34, flush=True)
            sqlite = subprocess.call([*recipe, "test-sqlite"])
            if postgres.poll() is None:
                print("\nmake test: waiting for the PostgreSQL pass", flush=True)
        finally:  # Ctrl-C reaches both passes (one process group); show what the other said
            status = postgres.wait()
            print("\n" + "=" * 32 + " PostgreSQL pass " + "=" * 32, flush=True)
            with open(log.name, "rb") as output:
                sys.stdout.buffer.write(output.read())
            sys.stdout.flush()

    failed = [name for name, code in (("SQLite", sqlite), ("PostgreSQL", status)) if code]
    if failed:
        print(f"make test: FAILED: the {' and the '.join(failed)} pass (output above)", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "make"))
