"""Testbeds beyond the miniature world (issue 11): SmolLM2-135M from a GGUF file, with project-written data."""
