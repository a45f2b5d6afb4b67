# Euralis Workbench — the two commands are `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8866
PYTEST_WORKERS ?= 2

.PHONY: install run test bench pipeline lab schedule lint strip db-start db-stop db-status browser clean

install: $(STAMP)

# The virtual environment, installed from the pinned constraints (re-run when they change).
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

## make run: embedded PostgreSQL, schema, simulated data if empty, all job notebooks (the weekly report prints
## its PDF with Debian's Chromium: installed as for the tests), Voilà dashboards.
run: install browser
	$(PY) -m euralis_lib run --port $(PORT)

## make test: the whole suite against private PostgreSQL clusters started by the tests. Each test module runs
## on one worker (--dist loadfile): its database and Voilà server are built once, not once per worker.
test: install browser
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -q --durations=20

## make coverage: the same suite under coverage.py, in every process it starts (job kernels, Voilà and its
## kernels, the command line), then the share of euralis_lib lines run. Apart from make test: tracing slows it.
## TESTS=tests/test_cli.py measures some modules only.
.PHONY: coverage
coverage: install browser
	rm -f .coverage .coverage.*
	$(PY) -m coverage run -m pytest -n $(PYTEST_WORKERS) --dist loadfile -q $(TESTS); status=$$?; \
	$(PY) -m coverage combine -q && $(PY) -m coverage report; exit $$status

## make bench: load and query timings at growing scale, then PDF reports and table exports (not a test).
bench: install browser
	$(PY) -m euralis_lib bench
	$(PY) -m euralis_lib.bench.reports

## make bench-reports: a site-week report, page PDFs, Excel/PDF exports at 1/3/10 years (not a test).
.PHONY: bench-reports
bench-reports: install browser
	$(PY) -m euralis_lib.bench.reports

## make validate: every model against its planted truths and baseline on 8 seeds × 3 end dates (2 processes);
## report in reports/validation/, exit status 1 when a goal fails on the worst data set (not a test).
.PHONY: validate
validate: install
	$(PY) -m euralis_lib.validation.matrix

## make bench-import: 1 M feeding rows through the import vs psql \copy (not a test).
.PHONY: bench-import
bench-import: install
	$(PY) -m euralis_lib.bench.imports --rows 1000000

## make bench-serve: 1, 5, 10 browsers opening Tableau de bord at once; timings, memory, kernels (not a test).
## POOLS=tableau_de_bord=10 measures a team server's pools (deploy/euralis.env.example) instead of the defaults.
.PHONY: bench-serve
bench-serve: install browser
	$(PY) -m euralis_lib.bench.serve --users 1 5 10 $(if $(POOLS),--pools $(POOLS) --report bench-serve-pools)

## make bench-transfer: bytes a browser downloads to open Tableau de bord, first and repeat view, direct and through
## nginx (not a test).
.PHONY: bench-transfer
bench-transfer: install browser
	$(PY) -m euralis_lib.bench.transfer

## make bench-alerts: 20 logged-in pages, alerts written by an import: p50/p95 from its commit to every page's
## badge, then the idle pages' server CPU and database connections for 2 minutes (not a test).
.PHONY: bench-alerts
bench-alerts: install browser
	$(PY) -m euralis_lib.bench.alerts --pages 20 --idle 120

## make bench-backup: backup, verified-restore and restore times and dump sizes at 3 and 10 years (not a test).
.PHONY: bench-backup
bench-backup: install
	$(PY) -m euralis_lib.bench.backup --years 3 10

pipeline: install
	$(PY) -m euralis_lib pipeline

## make schedule: the scheduler daemon in the foreground (scheduler/schedule.yml), logs on stdout.
schedule: install
	$(PY) -m scheduler daemon

lab: install
	$(PY) -m euralis_lib db start
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 --notebook-dir notebooks

lint: install
	$(VENV)/bin/ruff check .

## make strip: notebooks without outputs, counts or cell metadata, as they are committed.
strip: install
	$(PY) -m nbstripout notebooks/apps/*.ipynb notebooks/jobs/*.ipynb tests/data/*.ipynb

db-start db-stop db-status: install
	$(PY) -m euralis_lib db $(subst db-,,$@)

# Headless Chromium for the dashboard tests (Debian package; Playwright never downloads a browser).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium is missing: sudo apt-get install chromium" >&2; exit 1; fi; }

clean:
	-$(PY) -m euralis_lib db stop
	rm -rf $(VENV) .pytest_cache .ruff_cache
