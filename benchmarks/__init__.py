"""adstream benchmarks: hot-path micro-benchmarks and the end-to-end latency harness."""
