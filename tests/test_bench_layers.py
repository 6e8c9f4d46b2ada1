"""bench/layers.py: each py-spy sample counts once, for its innermost frame with a layer."""

from __future__ import annotations

from pathlib import Path

from bench.layers import summarise
from harness import pg

pytestmark = pg.once()  # no database here

LOOP = "run (asyncio/runners.py:118);run_asgi (uvicorn/protocols/http/httptools_impl.py:419)"
VALIDATE = "__call__ (connexion/middleware/response_validation.py:96);iter_errors (jsonschema/validators.py:368)"
QUERY = "call (handlers/__init__.py:89);by_key (models/base.py:70);execute (peewee.py:3300)"


def test_samples_count_for_their_innermost_layer(tmp_path: Path) -> None:
    raw = tmp_path / "get.raw"
    raw.write_text(
        f"{LOOP};{VALIDATE} 3\n"
        f"{LOOP};send (app/serving/protocol.py:73) 2\n"
        f"{LOOP};{QUERY} 5\n"
        "main (somewhere/else.py:1) 1\n"
    )
    counts, total = summarise(raw)
    assert total == 11
    assert counts == {
        "validation": 3,
        "uvicorn and the socket": 2,
        "database": 5,
        "other": 1,
    }
