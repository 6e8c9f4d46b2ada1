# Every target is what the README tells people to type.
VENV            ?= .venv
PY              := $(VENV)/bin/python
HOST            ?= 127.0.0.1
PORT            ?= 8080
WEB_CONCURRENCY ?= 2
PYTEST_ARGS     ?=
export HOST PORT WEB_CONCURRENCY

.PHONY: install run test test-sqlite test-postgres coverage lint fmt bench contract mutation admin-token clean

# pip's own lines ("Collecting ...", "Installing ...") are the progress of a first install.
$(VENV)/bin/python:
	@echo "make: creating $(VENV) (once), then installing the server and its dependencies into it"
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.run: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --progress-bar off -e .
	touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.run
	@echo "make: installing the test tools into $(VENV)"
	$(PY) -m pip install --progress-bar off -e '.[test]'
	touch $@

install: $(VENV)/.run

run: $(VENV)/.run
	$(VENV)/bin/alien-server serve

admin-token: $(VENV)/.run
	$(VENV)/bin/alien-server admin-token

test: $(VENV)/.test
	$(PY) -m coverage erase
	$(PY) -m harness.passes "$(MAKE)"
	$(MAKE) --no-print-directory coverage

test-sqlite: $(VENV)/.test
	ALIEN_TEST_DB=sqlite $(PY) -m coverage run -m pytest $(PYTEST_ARGS)

test-postgres: $(VENV)/.test
	@$(PY) -m harness.pg || { echo "No PostgreSQL answers at $${ALIEN_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test}."; \
	  echo "Point ALIEN_TEST_POSTGRES_URL at a server and a database to connect to, e.g."; \
	  echo "  ALIEN_TEST_POSTGRES_URL=postgresql://user:pass@host:5432/postgres make test-postgres"; \
	  echo "The role must be allowed to CREATE DATABASE: each run makes its own and drops it."; exit 1; }
	ALIEN_TEST_DB=postgres $(PY) -m coverage run -m pytest $(PYTEST_ARGS)

coverage: $(VENV)/.test
	@$(PY) -m coverage combine -q 2>/dev/null || true
	$(PY) -m coverage report

lint: $(VENV)/.test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: $(VENV)/.test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(VENV)/.test
	$(PY) -m bench $(BENCH_ARGS)

contract: $(VENV)/.test
	$(PY) -m tests.contract.run $(CONTRACT_ARGS)

mutation: $(VENV)/.test
	$(PY) -m pip install -q -e '.[mutation]' && $(VENV)/bin/mutmut run --max-children 2 $(MUTANTS); $(VENV)/bin/mutmut results

clean:
	rm -rf $(VENV) .alien-manager .alien-manager-test mutants .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.*
