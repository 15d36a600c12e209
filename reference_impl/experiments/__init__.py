"""Experiments whose results are committed under `reference_impl/results/` (each module says how to re-run it)."""
