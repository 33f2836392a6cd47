# easycrm_pipeline — every target bootstraps .venv when it is missing (needs only python3 and make).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DAGSTER_HOME_DIR := $(abspath data/dagster_home)

.PHONY: run test test-scale dev bench metrics install clean ui-check

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

## make run: ingest the bundled samples with the embedded defaults, print the summary and a few leads
run: $(STAMP)
	DAGSTER_HOME=$${DAGSTER_HOME:-$(DAGSTER_HOME_DIR)} $(BIN)/easycrm ingest data/samples/*.csv data/samples/*.xlsx
	DAGSTER_HOME=$${DAGSTER_HOME:-$(DAGSTER_HOME_DIR)} $(BIN)/easycrm leads --page-size 5

## make test: the whole pytest suite
test: $(STAMP)
	$(BIN)/python -m pytest

## make test-scale: the ingest job on PostgreSQL + Redis + two Celery workers + DynamoDB (moto), all started and
## stopped by the script (installs postgresql/redis-server with apt-get and the `scale` extra when missing)
test-scale: $(STAMP)
	bash scale/run_test_scale.sh

## make dev: Dagster UI (http://127.0.0.1:3000) + daemon (sensors on) with DAGSTER_HOME=data/dagster_home;
## set DEEPSEEK_API_KEY (and DEEPSEEK_BASE_URL) before it. DAGSTER_DEV_ARGS="-p 3001" for another port.
dev: $(STAMP)
	@if [ -n "$$DEEPSEEK_API_KEY" ]; then echo "DeepSeek: key set"; else echo "DeepSeek: no DEEPSEEK_API_KEY, offline rules"; fi
	@port=$$(echo " $(DAGSTER_DEV_ARGS)" | sed -nE 's/.*(-p|--port)[ =]*([0-9]+).*/\2/p'); echo "Dagster UI: http://127.0.0.1:$${port:-3000}"
	DAGSTER_HOME=$${DAGSTER_HOME:-$(DAGSTER_HOME_DIR)} $(BIN)/dagster dev -w workspace.yaml $(DAGSTER_DEV_ARGS)

## make ui-check: screenshots of a throw-away `dagster dev` (good, bad and partial file dropped) under data/ui-check/,
## for a person to look at; installs Debian's chromium with apt-get when missing (as root). Not in CI.
ui-check: $(STAMP)
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	$(BIN)/python scripts/ui_check.py

## make bench: speed and memory against the targets (bench/results.json)
bench: $(STAMP)
	$(BIN)/python bench/run_bench.py

## make metrics: structure figures of easycrm_pipeline/ against issue 17's targets (tools/code_metrics.py; report only:
## `.venv/bin/python tools/code_metrics.py --check` exits 1 while a target is missed)
metrics: $(STAMP)
	$(BIN)/python tools/code_metrics.py

clean:
	rm -rf $(VENV) data/leads.duckdb data/leads.duckdb.lock data/dagster_home/storage data/dagster_home/history data/dagster_home/schedules data/dagster_home/logs
