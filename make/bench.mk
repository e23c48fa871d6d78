# Benchmarks: throughput, latency, chaos, races, fuzz, cost model, cold init. Not part of `make test`.
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	touch $(BENCH_STAMP)

.PHONY: bench
bench: $(STAMP) $(BENCH_STAMP) ## Run every benchmark on local stacks (under 15 min); writes bench/results/summary.json and BENCHMARKS.md
	$(BIN)/python -m bench
