"""gunicorn's configuration: the hooks and logging the app needs from the server process.

Minimal on the `observe` branch; the serving configuration (workers, bind, timeouts) is
added beside these lines.
"""

from app import logs, multiproc
from app.settings import Settings

_settings = Settings.from_env()

# Before any worker (or --preload) imports prometheus-client: see app/multiproc.py.
multiproc.start(_settings.state_dir)
child_exit = multiproc.child_exit
on_exit = multiproc.on_exit

logconfig_dict = logs.gunicorn_logconfig(_settings.log_level, _settings.log_format)
