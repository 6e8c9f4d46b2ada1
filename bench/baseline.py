"""The baseline: a bare Starlette app served by the same gunicorn + uvicorn worker command.

It answers the same shapes the benchmark sends (a GET returning a small JSON object, and a JSON
POST that is parsed and echoed back with an id), with no validation, auth or database, so its
throughput is the ceiling this machine, this load generator and this worker stack allow.
"""

from __future__ import annotations

import itertools

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_ids = itertools.count(1)


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def create(request: Request) -> JSONResponse:
    body = await request.json()
    return JSONResponse({"id": f"bl_{next(_ids)}", **body}, status_code=200)


app = Starlette(routes=[Route("/health", health), Route("/echo", create, methods=["POST"])])
