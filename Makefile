# Two commands on a fresh machine: `make run` and `make test`. Both create .venv and install when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench docs lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/forlop up

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python -m tests.perf.run_all

# The local cluster drill (tests/drill/drill.py): PostgreSQL, 3 NATS nodes, 2 APIs, 2 of each worker; kills and
# restarts, takeover times and the reconciliation counts. `make test` runs its short form.
drill: $(STAMP)
	$(BIN)/python -m tests.drill.drill

# Bounded loopback load, 16/32/64 clients (LOADTEST_SECONDS each), reconciled; writes docs/benchmarks.md.
loadtest: $(STAMP)
	$(BIN)/python -m tests.drill.loadtest

# JSON Schema of every NATS message and the AsyncAPI document, generated from the code into docs/.
docs: $(STAMP)
	$(BIN)/python -m workers.schemas

lint: $(STAMP)
	$(BIN)/ruff check domain store projections api workers tests
	$(BIN)/mypy domain

clean:
	rm -rf $(VENV) .forlop

.PHONY: drill loadtest

include console/console.mk
install: console
