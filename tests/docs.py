"""Read the tables of docs/behaviour.md, so tests can hold the reference to the code."""

from __future__ import annotations

from pathlib import Path

BEHAVIOUR = Path(__file__).resolve().parent.parent / "docs" / "behaviour.md"


def section(heading: str) -> str:
    """The text under a `## ` or `### ` heading that starts with `heading`, up to the next one."""
    lines = BEHAVIOUR.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip("#").strip().startswith(heading))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start + 1 : end])


def table(heading: str, first_column: str) -> list[dict[str, str]]:
    """The rows of the first table under `heading` whose first column is `first_column`."""
    rows: list[list[str]] = []
    found = False
    for line in section(heading).splitlines():
        if not line.startswith("|"):
            if found:
                break
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not found:
            found = cells[0] == first_column
            header = cells
            continue
        if set(cells[0]) <= {"-", ":"}:
            continue
        rows.append(cells)
    assert found, f"no table with a {first_column!r} column under {heading!r}"
    return [dict(zip(header, row, strict=True)) for row in rows]
