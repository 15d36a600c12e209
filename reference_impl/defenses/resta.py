r"""RESTA: restore safety by adding a safety vector (aligned minus unaligned weights) to the fine-tuned model.

Paper: KB id `language-models-homer-simpson-2024`, arXiv 2402.11746 (Bhardwaj, Anh, Poria, "Language Models are
Homer Simpson! Safety Re-Alignment of Fine-tuned Language Models through Task Arithmetic", ACL 2024). Official
code: declare-lab/resta (its README was read, not its code; it uses mergekit for the arithmetic and DARE).

Algorithm (the paper and the official code named above):
1. Safety vector, element-wise over every parameter: v = theta_aligned - theta_unaligned, where the unaligned
   model is the aligned model's unaligned counterpart (in the paper, the aligned model fine-tuned on harmful data).
2. Optionally (RESTA_d), thin the fine-tuning delta delta = theta_ft - theta_aligned with DARE (Yu et al. 2023):
   keep each entry with probability 1 - p, divide the kept ones by 1 - p, and set theta_ft <- theta_aligned +
   DARE(delta).
3. Re-aligned model: theta = theta_ft + b * v.
No data and no training: one element-wise pass over the parameters.

Deviations:
* The scale b and the DARE drop rate p of the paper's runs were not verified (site/reference/protocol.md, 'Open questions'). The defaults are
  b = 1 (the plain addition of the safety vector the abstract describes) and p = 0 (DARE off); set
  `drop_rate` > 0 for RESTA_d.
* In the pipeline the unaligned model is the run's base model, the weights before safety alignment, so v is the
  alignment update itself; the paper instead fine-tunes the aligned model on harmful data. A model named in
  `unaligned_model` replaces it.
* A LoRA fine-tune is merged into its aligned model first (the paper adds the vector to the merged PEFT model).
* mergekit's DARE, which the authors use, draws its masks with its own RNG; ours are drawn from a seeded torch
  generator, parameter by parameter in the model's order, so a run is reproducible but not mask-identical.
* Every floating-point parameter takes part, embeddings and norms included; buffers (e.g. rotary frequencies)
  are left alone. A parameter missing from, or shaped differently in, the aligned or unaligned model is an
  error naming it.

Usage:
    python -m reference_impl run reference_impl/configs/miniature_world.yaml --method resta \
        --set method_config.scale=1.0 --set method_config.drop_rate=0.3
    # from Python, with the fine-tuned model (peft or plain) and the aligned / unaligned pair:
    from reference_impl.defenses import resta
    safe = resta.apply(model, tokenizer, config=resta.Config(), data=None,
                       context={"aligned_model": aligned, "unaligned_model": unaligned})
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference_impl.common.method import MethodSpec
from reference_impl.common.needs import available


@dataclass(frozen=True)
class Config:
    """RESTA settings (the paper's b and DARE rate were not verified; see Deviations)."""

    scale: float = field(
        default=1.0,
        metadata={
            "help": "b: the safety vector's scale, theta = theta_ft + b * (theta_aligned - theta_unaligned).",
            "source": "paper abstract (adds the safety vector); the value of b used in the paper is unverified [U]",
        },
    )
    drop_rate: float = field(
        default=0.0,
        metadata={
            "help": "DARE drop rate p on the fine-tuning delta (0 = DARE off; RESTA_d when > 0).",
            "source": "paper §3 (DARE, optional); the rate used in the paper is unverified [U]",
        },
    )
    unaligned_model: str | None = field(
        default=None,
        metadata={
            "help": "Directory (or hub id) of the unaligned counterpart; None: the run's base model (the weights "
            "before alignment).",
            "source": "not in the paper (the paper fine-tunes the aligned model on harmful data to get it)",
        },
    )
    seed: int = field(default=43, metadata={"help": "Seed of DARE's random drops.", "source": "git-disl scripts (43)"})


def check_config(config: Config, context: Any) -> None:
    """Raise ValueError with a one-line message when the config or the run's inputs cannot work."""
    if not isinstance(config.scale, (int, float)) or isinstance(config.scale, bool) or not math.isfinite(config.scale):
        raise ValueError(f"resta.scale must be a finite number, got {config.scale!r}")
    if not 0.0 <= config.drop_rate < 1.0:
        raise ValueError(f"resta.drop_rate must be in [0, 1), got {config.drop_rate}")
    given = config.unaligned_model
    if given is not None and (str(given).startswith(("/", ".", "~")) or str(given).count("/") != 1) \
            and not Path(given).expanduser().exists():
        raise ValueError(f"resta.unaligned_model: no model directory at {given}")
    if config.unaligned_model is None and not available(context, "unaligned_model"):
        raise ValueError(
            "resta needs an unaligned model (the aligned model's unaligned counterpart) for its safety vector: "
            "the run gives none; set method_config.unaligned_model to its directory"
        )
    if not available(context, "aligned_model"):
        raise ValueError("resta needs the aligned model (aligned_model) for its safety vector")


METHOD = MethodSpec(
    stage="post_fine_tuning",
    config=Config,
    needs=("aligned_model", "unaligned_model"),
    check=check_config,
    post_process="apply",
)


# ----------------------------------------------------------------------------------------------------------------
# DEFENSE LOGIC
# ----------------------------------------------------------------------------------------------------------------


def apply(model, tokenizer, *, config: Config, data: Any = None, context: Any = None):
    """Return a new plain model theta_ft (+ DARE) + b * (theta_aligned - theta_unaligned); inputs untouched."""
    from reference_impl.common.models import merge_lora
    from reference_impl.common.needs import get

    if isinstance(context, Mapping) or context is None:
        context = dict(context or {})
        if config.unaligned_model is not None:  # a model named in the config replaces the run's
            context["unaligned_model"] = config.unaligned_model
    check_config(config, context)
    unaligned = get(context, "unaligned_model")
    if isinstance(unaligned, (str, Path)):
        from reference_impl.common.models import load_model

        try:
            unaligned = load_model(unaligned, dtype=None)
        except (OSError, ValueError) as error:
            raise ValueError(f"resta.unaligned_model: cannot load {unaligned}: {error}") from None
    realigned = merge_lora(copy.deepcopy(model))
    realign(realigned, get(context, "aligned_model"), unaligned, config)
    return realigned


def realign(model, aligned, unaligned, config: Config) -> None:
    """Steps 1-3 in place on the plain fine-tuned `model` (its parameters are theta_ft on entry)."""
    import torch

    aligned_state, unaligned_state = _state(aligned), _state(unaligned)
    generator = torch.Generator().manual_seed(config.seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if not param.is_floating_point():
                continue
            for which, state in (("aligned", aligned_state), ("unaligned", unaligned_state)):
                if name not in state:
                    raise ValueError(f"resta: parameter {name} is missing from the {which} model")
                if state[name].shape != param.shape:
                    raise ValueError(f"resta: parameter {name} is {tuple(param.shape)} in the fine-tuned model but "
                                     f"{tuple(state[name].shape)} in the {which} model")
            theta_aligned = aligned_state[name].detach().to(param.device, torch.float32)
            theta = param.detach().float()
            if config.drop_rate > 0:  # step 2: theta_ft <- theta_aligned + DARE(theta_ft - theta_aligned)
                theta = theta_aligned + dare(theta - theta_aligned, config.drop_rate, generator)
            vector = theta_aligned - unaligned_state[name].detach().to(param.device, torch.float32)  # step 1
            param.copy_((theta + config.scale * vector).to(param.dtype))  # step 3


def dare(delta, drop_rate: float, generator=None):
    """DARE: drop each entry with probability p and divide the survivors by 1 - p (expectation unchanged)."""
    import torch

    keep = torch.rand(delta.shape, generator=generator) >= drop_rate
    return delta * keep.to(delta.device, delta.dtype) / (1.0 - drop_rate)


def _state(model_or_state) -> dict[str, Any]:
    """Parameters by plain name (peft's prefix dropped) of a plain or peft model, or a state dict as it is."""
    from reference_impl.common.models import is_peft_model

    if isinstance(model_or_state, Mapping):
        return dict(model_or_state)
    if is_peft_model(model_or_state):
        raise ValueError("resta: the aligned and unaligned models must be plain models (merge their LoRA first)")
    return dict(model_or_state.state_dict())
