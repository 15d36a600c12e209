"""Benchmarks (`make bench`): speed and size targets are measured here, never by timed tests."""
