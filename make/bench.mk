# Benchmarks: throughput, latency, chaos, races, fuzz, cost model, cold init. Not part of `make test`.
.PHONY: bench
bench: $(STAMP) ## Run every benchmark on local stacks (under 15 min); writes bench/results/summary.json and BENCHMARKS.md
	$(BIN)/python -m bench
