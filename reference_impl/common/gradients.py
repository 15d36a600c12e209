"""Gradient helpers the defenses with extra passes share (Booster, Panacea): take the gradients out of `.grad`,
and one norm over many tensors."""

from __future__ import annotations

from typing import Sequence

import torch


def take_grads(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Remove and return the parameters' gradients (zeros where a parameter got none)."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    for p in params:
        p.grad = None
    return grads


def global_norm(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """One L2 norm over all the tensors together (as if concatenated into one vector)."""
    return torch.linalg.vector_norm(torch.stack([t.float().norm(2) for t in tensors]), 2)
