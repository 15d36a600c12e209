"""The frozen reference that distance-to-start regularisers compare with (LDIFS, KL, token-wise constrained SFT, TAR).

The papers keep a frozen deep copy of the model as it was when training started (the aligned model). Only the
trainable parameters move, so a snapshot of those (the LoRA weights under peft: megabytes, not a second 7B
model) is the same reference: a forward with the snapshot swapped in through `torch.func.functional_call` is the
frozen copy's forward, bit for bit, and the model's own parameters are never touched. With full fine-tuning the
snapshot is every parameter, the papers' 2x-weights memory.
"""

from __future__ import annotations

import torch
from torch.func import functional_call


class FrozenReference:
    """`weights`: a copy of the trainable parameters at construction; `forward(**batch)` runs the model with them."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.weights = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        if not self.weights:
            raise ValueError("the model has no trainable parameter: nothing can move away from the reference")

    @torch.no_grad()
    def forward(self, **inputs):
        """The reference model's output for `inputs` (no gradient)."""
        return functional_call(self.model, self.weights, args=(), kwargs=inputs, strict=False)
