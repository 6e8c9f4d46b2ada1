"""gunicorn's configuration: the hooks and logging the app needs from the server process.

Minimal on the `observe` branch; the serving configuration (workers, bind, timeouts) is
added beside these lines.
"""

import warnings

# Connexion imports Starlette's test client, which warns about httpx once per process: not ours,
# and in JSON mode a line that is not JSON.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from app import logs, multiproc  # noqa: E402
from app.settings import Settings  # noqa: E402

_settings = Settings.from_env()

# Before any worker (or --preload) imports prometheus-client: see app/multiproc.py.
multiproc.start(_settings.state_dir)
child_exit = multiproc.child_exit
on_exit = multiproc.on_exit

logconfig_dict = logs.gunicorn_logconfig(_settings.log_level, _settings.log_format)
