"""Serving: which model version each query is scored with, and following snapshots to swap it."""
