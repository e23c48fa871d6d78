"""Benchmarks of the order service on its local stack: throughput, latency, chaos, races, fuzzing, cost, cold init.

``make bench`` (``python -m bench``) runs every phase against stacks it starts itself on free 127.0.0.1 ports and
writes ``bench/results/summary.json`` and ``BENCHMARKS.md``.
"""
