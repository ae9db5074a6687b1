"""Benchmarks for toolkit: `make bench` runs `python -m benchmarks.run`."""
