# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON_BOOT ?= $(shell for p in python3.12 python3.11 python3.10 python3; do command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(0 if (3,10) <= sys.version_info[:2] <= (3,12) else 1)' 2>/dev/null && echo $$p && break; done)
VENV := .venv
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.deps-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)
PORT ?= 5000
SIMNODE_PORT ?= 8080
SEED ?= 7
BACKEND ?= lnd

.PHONY: run test test-unit release bench bench-cln bench-score bench-oracle bench-host bench-scale bench-answer deps clean

$(PY):
	@test -n "$(PYTHON_BOOT)" || { echo "Python 3.10-3.12 is required"; exit 1; }
	$(PYTHON_BOOT) -m venv $(VENV)

$(DEPS_STAMP): requirements.txt requirements-dev.txt | $(PY)
	@echo "Installing the pinned dependencies into $(VENV) (a few minutes the first time) …"
	$(PY) -m pip install --disable-pip-version-check -q --upgrade pip
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	rm -f $(VENV)/.deps-* && touch $@

deps: $(DEPS_STAMP)

# The checks first (ports free, run/ not in use by another make run), with any Python 3 and
# before any set-up, so a refusal is one line and immediate; devtools.run checks again.
RUN_ARGS = --port $(PORT) --simnode-port $(SIMNODE_PORT)
run:
	@$(or $(wildcard $(PY)),$(PYTHON_BOOT),python3) -m devtools.run --check-only $(RUN_ARGS)
	@$(MAKE) --no-print-directory -s deps
	$(PY) -m devtools.run $(RUN_ARGS) --seed $(SEED) --backend $(BACKEND)

test: deps
	$(PY) -m devtools.browser_setup
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

test-unit: deps
	$(PY) -m pytest tests/engine tests/unit $(PYTEST_ARGS)

release: deps
	$(PY) -m devtools.release

# The strategy comparison (issue 8) in four market regimes (issue 14): 20 report seeds x 4 regimes x 30 days,
# writes bench/results/strategies.md, .json and the chart (under 30 min on 2 cores).
# `make bench BENCH_ARGS=--quick`: one seed, 7 days, stationary (under 2 min);
# BENCH_ARGS="--regime mission_control,demand_shifts": some regimes only (see bench/strategies.py).
bench: deps
	$(PY) bench/strategies.py $(BENCH_ARGS)

# The same comparison on Core Lightning semantics (issue 18): every strategy through simnode's CLN face (setchannel
# with enforcedelay, listforwards failures), plus CLN's feeadjuster plugin; writes bench/results/strategies_cln.*.
# `make bench-cln BENCH_ARGS=--quick` / `--tuning` as for `make bench`.
bench-cln: deps
	$(PY) bench/strategies.py --backend cln $(BENCH_ARGS)

# Scoring speed and memory against the 2024 graph.
bench-score: deps
	$(PY) bench/score.py $(BENCH_ARGS)

# What a cold cycle and a burst of reads cost LNbits (issue 15): health latency idle and during, as ratios.
bench-host: deps
	$(PY) bench/host_impact.py $(BENCH_ARGS)

# A 2,000-channel node over 30 simulated days of hourly cycles (issue 15): first and warm cycle, node requests
# and bytes per cycle against a tenth of the volume, RSS, database size; writes bench/results/scale.md.
# `make bench-scale BENCH_ARGS=--quick`: 40 channels, 1 simulated day (3-5 min on 2 cores).
bench-scale: deps
	$(PY) bench/scale.py $(BENCH_ARGS)

# A run's answer (POST /runs, GET /runs/{id}) built from the model's fields against pydantic, 2,000 decisions (under a minute).
bench-answer: deps
	$(PY) bench/run_answer.py $(BENCH_ARGS)

# The best fixed fees an in-sample search finds, against CLBOSS: a ceiling for judging `make bench`.
bench-oracle: deps
	$(PY) bench/static_oracle.py $(BENCH_ARGS)

clean:
	rm -rf dist run test-output
