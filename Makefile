# Every target installs what it needs from the committed lock file (uv.lock), so a fresh clone needs only python3
# and make: uv itself comes from the package registry, pinned by hash in make/uv-requirements.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
UV := $(TOOLS)/bin/uv
STAMP := $(VENV)/.installed

# uv installs into .venv with this machine's interpreter and never downloads one of its own.
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never

.DEFAULT_GOAL := help
.PHONY: help install lock lock-check upgrade lint format run test test-unit test-workflow test-integration clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'

$(UV): make/uv-requirements.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --require-hashes --no-deps -r make/uv-requirements.txt
	touch $(UV)

$(STAMP): pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --all-extras --quiet
	touch $(STAMP)

install: $(STAMP) ## Create .venv with exactly the versions in uv.lock (runtime, dev, bench, cdk, console)

lock-check: $(UV) ## Fail when uv.lock no longer matches pyproject.toml
	@$(UV) lock --check --quiet 2>/dev/null || { \
		echo "uv.lock does not match pyproject.toml: run 'make lock' to lock what you changed, or 'make upgrade'."; \
		exit 1; }

lock: $(UV) ## Lock again after editing pyproject.toml; what you did not change keeps its locked version
	$(UV) lock
	$(MAKE) install

upgrade: $(UV) ## Move every package to the newest release pyproject allows; keep the new lock only if the suite passes
	$(PYTHON) make/upgrade.py --uv $(UV) -- $(MAKE) test

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

run: $(STAMP) ## Start the local stack in the foreground (API :3000, AWS endpoint :4566); Ctrl-C stops it
	$(BIN)/orders up

test: lock-check lint ## Check the lock, lint, then run the whole suite
	$(BIN)/pytest

test-unit: $(STAMP) ## Unit tests only
	$(BIN)/pytest tests/unit

test-workflow: $(STAMP) ## Workflow scenarios on moto's Step Functions engine
	$(BIN)/pytest tests/workflow

test-integration: $(STAMP) ## The HTTP suite: a local stack, or the deployed one when ORDERS_API_URL is set
	$(BIN)/pytest tests/integration

clean: ## Remove the virtualenvs and caches
	rm -rf $(VENV) $(TOOLS) build .pytest_cache .ruff_cache cdk.out

-include make/*.mk
