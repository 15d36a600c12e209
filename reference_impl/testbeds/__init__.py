"""Testbeds (base.py: the seam): the miniature world, SmolLM2-135M from a GGUF file, and real hub models."""

from .base import TESTBEDS, RunData, Testbed, register, testbed_for  # noqa: F401
