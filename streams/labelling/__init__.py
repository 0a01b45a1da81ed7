"""Labelling: impressions, their query and later feedback joined into labelled examples."""
