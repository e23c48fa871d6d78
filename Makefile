# Every target creates the virtualenv and installs what it needs, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install lint format run test test-unit test-workflow test-integration clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,cdk,console]"
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with its dev dependencies

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

run: $(STAMP) ## Start the local stack in the foreground (API :3000, AWS endpoint :4566); Ctrl-C stops it
	$(BIN)/orders up

test: lint ## Lint, then run the whole suite
	$(BIN)/pytest

test-unit: $(STAMP) ## Unit tests only
	$(BIN)/pytest tests/unit

test-workflow: $(STAMP) ## Workflow scenarios on moto's Step Functions engine
	$(BIN)/pytest tests/workflow

test-integration: $(STAMP) ## The HTTP suite: a local stack, or the deployed one when ORDERS_API_URL is set
	$(BIN)/pytest tests/integration

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache cdk.out

-include make/*.mk
