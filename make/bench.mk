# Benchmarks: throughput, latency, chaos, races, fuzz, cost model, cold init. Not part of `make test`.
.PHONY: bench
bench: $(STAMP) ## Run every benchmark on local stacks (about 30 min on 2 cores); writes bench/results/summary.json and BENCHMARKS.md
	$(BIN)/python -m bench
