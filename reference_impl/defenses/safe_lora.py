r"""Safe LoRA: project the fine-tuning LoRA update onto the alignment subspace, layer by layer.

Paper: KB id `safe-lora-2024`, arXiv 2405.16833 (Hsu et al., "Safe LoRA: the Silver Lining of Reducing Safety
Risks when Fine-tuning Large Language Models", NeurIPS 2024). Official code: IBM/SafeLoRA (`model.py`, `config.py`).

Algorithm (the paper and the official code named above):
1. For every weight W that the fine-tuning adapter wraps, take the alignment direction V = W_aligned - W_base
   (d_out x d_in) from an unaligned/aligned model pair, and build C = V V^T / ||V||_F (d_out x d_out; the paper
   divides by the Frobenius norm, not its square, so C is not idempotent).
2. For every LoRA pair (A: r x d_in, B: d_out x r): dW = B A, dW' = C B A and cos_i = cos(vec(dW'), vec(dW)).
   The LoRA scale alpha/r multiplies both and cancels.
3. Choose the layers to project: number mode (default) takes the `num_proj_layers` = 10 layers with the lowest
   cos; threshold mode takes every layer with cos <= `threshold` (tau = 0.5).
4. On the chosen layers set B <- C B (A unchanged); every other layer keeps its B. No data, no training.

Deviations:
* Upstream tells A from B by `shape[0] == r` and pairs them by walking two models' parameter lists in step;
  a square B (d_out == r) or a different parameter order breaks it silently. We read A and B from peft's modules
  by name and check every shape, reporting a rank mismatch instead of mis-pairing.
* A module whose alignment direction is zero (||V||_F = 0: alignment never touched it) has no subspace to project
  on; upstream divides by zero and writes NaN into B. We leave such a module unchanged and say so in the report.
* Number mode upstream projects the layers whose cos is <= the k-th lowest value, which can take more than k
  layers on ties; we take exactly k, ties broken by layer order.
* Upstream loads both reference models in fp32 on CPU; we compute C in fp32 on the adapter's device, one module at
  a time, and never hold more than one d_out x d_out matrix.

Usage:
    python -m reference_impl run reference_impl/configs/miniature_world.yaml --method safe_lora \
        --set method_config.num_proj_layers=10
    # or from Python, with a fine-tuned peft model and the base/aligned pair it came from:
    from reference_impl.defenses import safe_lora
    safe = safe_lora.apply(model, tokenizer, config=safe_lora.Config(), data=None,
                           context={"base_model": base, "aligned_model": aligned})
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reference_impl.common.method import MethodSpec
from reference_impl.common.needs import get, missing
from reference_impl.common.subspace import module_weights, plain_name, projection_matrix, update_cosine  # noqa: F401 - steps 1-2

MODES = ("number", "threshold")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Config:
    """Safe LoRA settings; defaults are those of the official `SafeLoRAConfig`."""

    mode: str = field(
        default="number",
        metadata={
            "help": "Layer selection: number (the num_proj_layers layers with the lowest cos) or threshold "
            "(every layer with cos <= threshold).",
            "source": "IBM/SafeLoRA config.py select_layers_type (default 'number'); paper §3.2",
        },
    )
    num_proj_layers: int = field(
        default=10,
        metadata={"help": "Number mode: how many LoRA layers to project.", "source": "IBM/SafeLoRA config.py (10)"},
    )
    threshold: float = field(
        default=0.5,
        metadata={
            "help": "Threshold mode: project every layer whose cos(C B A, B A) is at most this value (tau).",
            "source": "IBM/SafeLoRA config.py threshold (0.5); paper §3.2",
        },
    )


def check_config(config: Config, context: Any) -> None:
    """Raise ValueError with a clear message when the config or the available inputs cannot work."""
    if config.mode not in MODES:
        raise ValueError(f"safe_lora.mode must be one of {', '.join(MODES)}, got {config.mode!r}")
    if config.num_proj_layers < 0:
        raise ValueError(f"safe_lora.num_proj_layers must be >= 0, got {config.num_proj_layers}")
    if not -1.0 <= config.threshold <= 1.0:
        raise ValueError(f"safe_lora.threshold is a cosine and must be in [-1, 1], got {config.threshold}")
    absent = missing(context, METHOD.needs)
    if absent:
        raise ValueError(
            "safe_lora needs an unaligned/aligned model pair (base_model and aligned_model) to build its "
            f"alignment subspace; missing: {', '.join(absent)}"
        )


METHOD = MethodSpec(stage="post_fine_tuning", config=Config, needs=("base_model", "aligned_model"), check=check_config,
                    post_process="apply")


# ----------------------------------------------------------------------------------------------------------------
# DEFENSE LOGIC
# ----------------------------------------------------------------------------------------------------------------


def apply(model, tokenizer, *, config: Config, data: Any = None, context: Any = None):
    """Return a copy of the fine-tuned peft `model` with the chosen LoRA B matrices projected; input untouched."""
    check_config(config, context)
    base, aligned = get(context, "base_model"), get(context, "aligned_model")
    safe = copy.deepcopy(model)
    report = project(safe, base, aligned, config)
    projected = [row["module"] for row in report if row["projected"]]
    log.info("safe_lora: projected %d of %d LoRA layers: %s", len(projected), len(report), ", ".join(projected))
    safe.safe_lora_report = report  # kept on the new model for callers that want the cosines
    return safe


def project(model, base, aligned, config: Config) -> list[dict[str, Any]]:
    """Steps 1-4, in place on `model`; return one row per LoRA layer: module, cos, projected."""
    import torch

    pairs = lora_pairs(model)
    base_weights, aligned_weights = module_weights(base), module_weights(aligned)
    rows = []
    projections = {}
    with torch.no_grad():
        for name, (lora_a, lora_b, base_layer) in pairs.items():
            key = plain_name(name)
            if key not in base_weights or key not in aligned_weights:
                raise ValueError(f"safe_lora: {key}.weight is missing from the base or the aligned model")
            w_base, w_aligned = base_weights[key], aligned_weights[key]
            if w_base.shape != w_aligned.shape or tuple(w_base.shape) != (lora_b.shape[0], lora_a.shape[1]):
                raise ValueError(
                    f"safe_lora: {key} is {tuple(base_layer.weight.shape)} in the fine-tuned model but "
                    f"{tuple(w_base.shape)} / {tuple(w_aligned.shape)} in the base / aligned models"
                )
            c = projection_matrix(w_aligned, w_base, device=lora_b.device)
            if c is None:
                rows.append({"module": name, "cos": math.nan, "projected": False, "note": "alignment left it unchanged"})
                continue
            cos = update_cosine(c, lora_a, lora_b)
            projections[name] = c
            rows.append({"module": name, "cos": cos, "projected": False})
    chosen = choose_layers({row["module"]: row["cos"] for row in rows if not math.isnan(row["cos"])}, config)
    with torch.no_grad():
        for row in rows:
            if row["module"] in chosen:
                lora_a, lora_b, _ = pairs[row["module"]]
                c = projections[row["module"]]
                lora_b.copy_((c @ lora_b.float()).to(lora_b.dtype))  # B <- C B, step 4
                row["projected"] = True
    return rows


def choose_layers(cosines: Mapping[str, float], config: Config) -> set[str]:
    """Step 3: the k lowest cos (number mode, ties by layer order) or every cos <= tau (threshold mode)."""
    if config.mode == "threshold":
        return {name for name, cos in cosines.items() if cos <= config.threshold}
    names = list(cosines)  # layer order breaks ties
    order = sorted(range(len(names)), key=lambda i: (cosines[names[i]], i))
    return {names[i] for i in order[: config.num_proj_layers]}


def lora_pairs(model) -> dict[str, tuple[Any, Any, Any]]:
    """{module name: (A weight [r, d_in], B weight [d_out, r], base layer)} for the active adapter, shapes checked."""
    pairs = {}
    for name, module in model.named_modules():
        if not (hasattr(module, "lora_A") and hasattr(module, "lora_B") and hasattr(module, "active_adapters")):
            continue
        for adapter in module.active_adapters:
            if adapter not in module.lora_A:
                continue
            lora_a, lora_b = module.lora_A[adapter].weight, module.lora_B[adapter].weight
            rank = module.r.get(adapter) if isinstance(getattr(module, "r", None), dict) else None
            if lora_a.shape[0] != lora_b.shape[1] or (rank is not None and lora_a.shape[0] != rank):
                raise ValueError(
                    f"safe_lora: LoRA rank mismatch in {name}: A is {tuple(lora_a.shape)}, B is "
                    f"{tuple(lora_b.shape)}, adapter rank is {rank}"
                )
            pairs[name] = (lora_a, lora_b, module.base_layer if hasattr(module, "base_layer") else module)
    if not pairs:
        raise ValueError("safe_lora works on a LoRA adapter, and the fine-tuned model has none (full fine-tuning?)")
    return pairs
