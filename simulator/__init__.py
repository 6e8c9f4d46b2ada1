"""A simulated deployment engine: a client of the Alien Server API (docs/behaviour.md §9).

It drives deployments through their statuses the way a real engine would, using only the public
sync protocol (§7): acquire with its own session, reconcile, always release. It never touches a
database and imports nothing of the server (`app/`, `models/`, `handlers/`), so it works against any
server that implements the API.

- `simulator.steps`: the status walk and failure rules (pure functions, no I/O).
- `simulator.shapes`: stackState, environmentInfo and errors in the spec's shapes.
- `simulator.api`: the few HTTP calls it makes.
- `simulator.engine`: the push-mode engine and the pull-mode operator loops.
- `simulator.cli`: the click command `simulate` (also `python -m simulator`).
- `simulator.engine_process`: the engine as a child process of a server (ALIEN_SIMULATE=1; the
  server's gunicorn hooks start and stop it, app/serving/hooks.py).
"""
