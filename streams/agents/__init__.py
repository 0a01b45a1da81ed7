"""Faust agents and loops: each routes its inputs, calls a service and emits."""
