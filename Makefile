# The README's two commands: `make demo` and `make test`. Both create the venv they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LISTEN ?= 127.0.0.1:9898
DEMO_FLAGS ?=

.PHONY: demo test lint typecheck unit soak-check soak format bench mixin k8s-rules clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Runtime dependencies only (what a user of the demo needs).
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

# With the test extras: pytest, mypy, ruff, radon and the official Huawei SDK as an oracle.
$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/huaweicloud-task-exporter demo --web.listen-address $(LISTEN) $(DEMO_FLAGS)

test: lint typecheck unit soak-check

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/complexity.py

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

unit: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# A one-minute soak (bench/soak.py): every fault kind mixed, two scrapers, reloads, hostile clients; once with
# every scrape asking every task (the most faults), once at the default poll interval's economy.
soak-check: $(VENV)/.installed-test
	$(BIN)/python bench/soak.py --minutes 1
	$(BIN)/python bench/soak.py --minutes 1 --poll-interval 30s

soak: $(VENV)/.installed-test
	$(BIN)/python bench/soak.py --minutes $(or $(MINUTES),10)

bench: $(VENV)/.installed-test
	$(BIN)/python bench/bench.py
	$(BIN)/python bench/calls.py
	$(BIN)/python bench/intake.py

# The alerts, recording rules and dashboards from their one source, the jsonnet mixin in mixin/ (jsonnet is
# a test extra): alerts/*.yaml, dashboards/*.json and the PrometheusRule.
mixin: $(VENV)/.installed-test
	$(BIN)/python mixin/render.py

# The PrometheusRule alone, from the rule files in alerts/ (`make mixin` renders it too).
k8s-rules: $(VENV)/.installed
	$(BIN)/python deploy/kubernetes/monitoring/render.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
