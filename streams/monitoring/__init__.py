"""Monitoring: counters, each worker's health figures, alert rules, the Prometheus endpoint."""
