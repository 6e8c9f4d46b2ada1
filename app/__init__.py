"""The Alien Server application: the wiring between the spec, the handlers and the models.

Three ways the server is used, and where each lives:

- serving (gunicorn): `app.asgi:app` is the entry gunicorn loads, `app.gunicorn_conf` its one
  configuration; `app/serving/` holds the worker, drain, readiness, logs, metrics and hooks;
- the API a request meets: `app/factory.py` (`create_app`) builds it from `app/contract/` (the
  spec, its overlay, validators, limits) and `app/http/` (middleware, bridge, auth, errors);
  `app/storage.py` opens the database (in the state directory `app/state_dir.py` trusts);
  `app/cloud.py` is resolve_credentials' configuration;
- operating and testing: `app/cli/` (`alien-server`, `python -m app`), only with
  ALIEN_TEST_MODE=1 `app/testmode/`, and `app/pytest_plugin.py` (pytest's `alien_server`
  plugin, which starts a test-mode server for a client's suite);
- watching: `app/console/`, the live console at `/console`.

`app/settings.py` reads the environment, for all of them; it imports no framework. The import
rules between these parts are held by tests/test_layers.py.
"""

import warnings
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("alien-server")  # `alien-server --version`, the start-up line
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"

# Connexion imports Starlette's test client at import time (connexion/apps/abstract.py), which
# warns about httpx with a UserWarning subclass, shown by default: in every worker and every
# CLI call. Not ours to fix; the filter must precede the first `import connexion`, so it sits
# here, in the package every entry point imports first.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
