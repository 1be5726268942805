# The few commands everyone runs. Each target is idempotent and works from a fresh clone.
#   make run    set everything up, then serve the app on http://127.0.0.1:8000
#   make test   set everything up, lint, then run every test (browser tests included)
#   make lint   ruff + mypy (strict on py/)
#   make soak   the safety suite at 1M rows and thousands of syncs (tests/safety/)
#   make kit-check  the testing kit from a bare `pip install` in an empty folder (docs/testing.md)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint setup build chromium bench soak kit-check clean

run: setup build
	$(BIN)/ducksync serve --host $(HOST) --port $(PORT)

test: setup build chromium lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check py tests workers scripts web playwright.config.py
	$(BIN)/mypy

setup: $(VENV)/.installed node_modules/.installed

# Re-install only when the dependency manifests change.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Cheap (esbuild + copies), so it always runs: built assets never go stale.
build: setup
	$(BIN)/python scripts/build_assets.py

# Playwright cannot download its own browser here; use Debian's.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's chromium (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "chromium is missing: run 'sudo apt-get install -y chromium' and retry" >&2; exit 1; \
	  fi; }

bench: setup build chromium
	$(BIN)/ducksync bench --runs 3

# Not part of `make test`: kills at every phase at 1M rows, thousands of concurrent syncs
# (tests/safety/soak.py; sizes via DUCKSYNC_SOAK_* variables, see there).
soak: setup build chromium
	$(BIN)/python tests/safety/soak.py

# Not part of `make test` (a fresh venv + two browser devices): an app's test file using only
# the kit passes under plain pytest in an empty folder (scripts/check_testing_kit.py).
kit-check: setup build chromium
	$(BIN)/python scripts/check_testing_kit.py

clean:
	rm -rf web/dist .pytest_cache .mypy_cache .ruff_cache
