"""The benchmark protocol (issue 28): paired deltas against SFT, intervals, the task-broken flag and rankings.

Torch-free (stdlib, numpy, scipy), so the tables seam and the site can import it.
"""
