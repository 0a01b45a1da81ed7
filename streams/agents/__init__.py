"""Faust agents and loops: each routes its inputs, calls a service, emits; the root attaches them."""
