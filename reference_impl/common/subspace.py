"""The alignment subspace of a layer, from an unaligned/aligned weight pair, and the weights it is read from.

Safe LoRA (arXiv 2405.16833; official code IBM/SafeLoRA `model.py`) projects a LoRA update onto
C = V V^T / ||V||_F with V = W_aligned - W_unaligned and scores the layer by the cosine between the update and its
projection (defenses/safe_lora.py, steps 1-2); SafeMERGE (arXiv 2503.17239; aladinD/SafeMERGE `utils.py`) uses the
same cosine to pick the layers it merges (defenses/safemerge.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def projection_matrix(w_aligned, w_base, device=None):
    """C = V V^T / ||V||_F with V = W_aligned - W_base (step 1); None when V = 0."""
    v = (w_aligned.detach().to(device).float() - w_base.detach().to(device).float())
    norm = v.norm()  # Frobenius
    if norm == 0:
        return None
    return (v @ v.T) / norm


def update_cosine(c, lora_a, lora_b) -> float:
    """cos(vec(C B A), vec(B A)) (step 2); 0 when the update B A is zero."""
    import torch

    update = lora_b.float() @ lora_a.float()  # [d_out, d_in]
    projected = c @ update
    denom = projected.norm() * update.norm()
    if denom == 0:
        return 0.0
    return float(torch.sum(projected * update) / denom)


def plain_name(peft_name: str) -> str:
    """Module name inside the plain model: drop peft's `base_model.model.` prefix."""
    prefix = "base_model.model."
    return peft_name[len(prefix) :] if peft_name.startswith(prefix) else peft_name


def module_weights(model_or_state) -> dict[str, Any]:
    """{module name: weight} of a plain model (or a state dict keyed `<module>.weight`)."""
    if isinstance(model_or_state, Mapping):
        return {k[: -len(".weight")]: v for k, v in model_or_state.items() if k.endswith(".weight")}
    return {
        plain_name(name): module.weight
        for name, module in model_or_state.named_modules()
        if getattr(module, "weight", None) is not None and not hasattr(module, "lora_A")
    }
