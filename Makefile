# Ledgerline: the two commands a newcomer needs are `make demo` (the main job) and `make test` (all tests).
# Both set up whatever is missing first: Python packages, the Kafka broker's jars, PostgreSQL.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STATE ?= .state
# Every factoring provider is a package of its own under providers/ (found by the gateway through entry points).
PACKAGES := contracts servicekit services/ledger services/invoicing services/factoring-gateway \
            services/financing-gateway simulators cli $(sort $(wildcard providers/*))
PYPROJECTS := $(addsuffix /pyproject.toml,$(PACKAGES))
PYTEST_ARGS ?=
N ?= 50000

.PHONY: setup python kafka-jars postgres prometheus up down status test test-unit demo bench bench-ledger lint top asyncapi kubernetes clean

setup: python kafka-jars postgres prometheus ## venv with every package (editable), Kafka jars, PostgreSQL with roles, Prometheus

python: $(VENV)/.installed
$(VENV)/.installed: $(PYPROJECTS) requirements/dev.txt requirements/constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements/constraints.txt -r requirements/dev.txt $(addprefix -e ,$(PACKAGES))
	@touch $@

kafka-jars:
	@bash infra/kafka/kafka.sh fetch

postgres: python
	@bash infra/postgres/postgres.sh provision

# Debian's prometheus package (brings promtool): the stack's Prometheus and the rule tests in `make test`.
prometheus:
	@bash infra/prometheus/prometheus.sh install

# `make up BROKERS=3`: a cluster of three KRaft brokers (infra/kafka/kafka.sh, ports 29092-29097, topics with three
# replicas) instead of the single broker on 9092.
up: setup ## broker (BROKERS=3: a cluster), database, services and simulators in the background; waits for /readyz
	$(if $(filter-out 1,$(BROKERS)),LEDGERLINE_KAFKA_BROKERS=$(BROKERS) \
	  LEDGERLINE_KAFKA=$$(BROKERS=$(BROKERS) bash infra/kafka/kafka.sh bootstrap)) $(BIN)/ledgerline stack up

down: ## stops everything `up` started, broker and database included
	@test -x $(BIN)/ledgerline && $(BIN)/ledgerline stack down || true

status:
	$(BIN)/ledgerline stack status

test: setup ## every test, against a real Kafka broker and PostgreSQL that the test session starts itself
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: python prometheus ## only the fast tests that need neither Kafka nor PostgreSQL
	$(BIN)/pytest -m "not integration and not slow" $(PYTEST_ARGS)

demo: setup ## the main job: the whole stack on real Kafka and PostgreSQL, a scripted story end to end
	$(BIN)/ledgerline demo

bench: setup ## end-to-end benchmark (N invoices through the factoring lifecycle), results in bench/results/
	@bash infra/kafka/kafka.sh start
	$(BIN)/python -m bench.e2e --invoices $(N)

bench-ledger: setup ## ledger-only benchmark against the raw COPY ceiling
	@bash infra/kafka/kafka.sh start
	$(BIN)/python -m bench.ledger --commands $(N)

top: ## live throughput, lag and backlog per service
	$(BIN)/ledgerline status --watch

lint: python
	$(BIN)/ruff check .
	$(BIN)/mypy contracts/src servicekit/src services/*/src simulators/src cli/src providers/*/src

asyncapi: python ## regenerate docs/asyncapi/*.json from the code
	$(BIN)/python -m ledgerline_cli.asyncapi_docs write

kubernetes: python ## regenerate deploy/kubernetes/base/ from the code and render every overlay (kubectl kustomize)
	$(BIN)/python deploy/kubernetes/generate.py
	@for overlay in deploy/kubernetes/overlays/*/; do kubectl kustomize $$overlay >/dev/null && echo "renders: $$overlay"; done

clean: down
	rm -rf $(STATE) $(VENV) infra/kafka/libs
