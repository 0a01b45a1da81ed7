"""The ``adstream`` command line: the system's commands, the demo and the benchmarks."""
