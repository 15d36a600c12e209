"""LoX: low-rank extrapolation of the safety update, right after alignment.

Paper
-----
Perin, R. Chen, X. Chen, Hirata, Wang, Hong. *LoX: Low-Rank Extrapolation Robustifies LLM Safety Against
Fine-tuning* (COLM 2025). Knowledge-base record ``lox-2025``, arXiv 2506.15606. Official code: VITA-Group/LoX
(``safety/LoX.py``).

Stage: **alignment** (training-free, applied once to the aligned model before it is offered for fine-tuning).
Needs: the aligned model W_a and the model it was aligned from, W_b.

Algorithm
---------
The paper finds that the safety that fine-tuning erodes lives in the top singular directions of the alignment
update W_a - W_b, and that pushing the weights further along those directions makes them harder to undo. For
every weight matrix W (parameters with ndim > 1; norms and biases keep their aligned values):

1. Delta = W_a - W_b (computed in float32).
2. If k > 0, its rank-k part: Delta_k = U[:, :k] diag(S[:k]) V[:, :k]^T from the SVD Delta = U diag(S) V^T;
   if k = 0, Delta_k = Delta (the official script's default).
3. W_new = W_a + c * Delta_k       (the paper's extrapolation of Proj_k(Delta W_align), its factor alpha is c here)

Here the alignment stage is LoRA SFT (site/reference/protocol.md, 'Pipeline'), so for each adapted matrix Delta = s * B A (s the LoRA
scaling) has rank at most r and step 3 can be written back into the same LoRA exactly: with s B A = U diag(S) V^T
(thin SVD, r columns), B' = U diag(S') / s and A' = V^T, where S'_i = S_i (1 + c) for i < k (every i when k = 0)
and S'_i = S_i otherwise. `extrapolate` is the same step on full weight matrices, for users with a full
fine-tuned aligned model and its base.

Cost: one SVD per matrix (of a d x r product here), no training beyond the SFT alignment it starts from.

Deviations
----------
* In the pipeline LoX runs on the LoRA alignment update, so "every matrix with ndim > 1" becomes "every matrix
  the alignment LoRA adapts" (embeddings and lm_head are not adapted, so their Delta is zero and LoX leaves them,
  as the official code would). `extrapolate` on full weights follows the official code: every ndim > 1 parameter
  unless `targets` narrows it.
* The paper's recommended k and c per model could not be read (site/reference/protocol.md, 'Open questions'); the defaults are the official
  script's (k = 0, c = 1.0), which extrapolate the whole update. Small testbeds set k and c in the world's
  `method_configs`.

Usage
-----
Command line (SFT alignment, then LoX on the alignment LoRA, then plain SFT fine-tuning)::

    python -m reference_impl run config.yaml --method lox --set method_config.k=4 --set method_config.c=0.5

Python, on full weights (returns a new model; neither input is changed)::

    from reference_impl.defenses import lox
    robust = lox.extrapolate(aligned_model, base_model, lox.Config(k=6, c=1.25))
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reference_impl.common.method import MethodSpec


# `duplicates` pairs the field(default=..., metadata={help, source}) declarations below with the other defenses'
# Configs: same shape, different data (each field's paper default and its source); there is no logic to share.
@dataclass(frozen=True)
class Config:
    """LoX's own hyper-parameters (the SFT alignment it starts from is configured in the run's `alignment`)."""

    k: int = field(
        default=0,
        metadata={
            "help": "Rank of the extrapolated part of the alignment update (0: the whole update).",
            "source": "official safety/LoX.py argparse default (k=0)",
        },
    )
    c: float = field(
        default=1.0,
        metadata={
            "help": "Extrapolation factor: W_new = W_a + c * Delta_k.",
            "source": "official safety/LoX.py argparse default (c=1.0)",
        },
    )
    targets: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "Only matrices whose name contains one of these strings (empty: every matrix, as the official code).",
            "source": "this implementation (the official code has no filter)",
        },
    )


def check_config(config: Config, context: object = None) -> None:
    """Reject a configuration LoX cannot run with, before any work."""
    if isinstance(config.k, bool) or not isinstance(config.k, int) or config.k < 0:
        raise ValueError(f"lox: k must be an integer >= 0 (0 = the whole update), got {config.k!r}")
    if isinstance(config.c, bool) or not isinstance(config.c, (int, float)) or not config.c > 0:
        raise ValueError(f"lox: c must be a number > 0 (the extrapolation factor), got {config.c!r}")
    if isinstance(config.targets, str) or not all(isinstance(t, str) and t for t in config.targets):
        raise ValueError(f"lox: targets must be a list of non-empty name fragments, got {config.targets!r}")
    if isinstance(context, dict) and not context.get("base_model"):
        raise ValueError("lox: needs the base model the aligned model came from (model.base)")


METHOD = MethodSpec(stage="alignment", config=Config, needs=("alignment_data", "base_model"), check=check_config, trainer="Trainer")


# ==========================================================================================================
# DEFENSE LOGIC
# ==========================================================================================================

import copy  # noqa: E402

import torch  # noqa: E402  (below the banner: the part above reads without torch)

from reference_impl.common.harness import HFTTrainer  # noqa: E402
from reference_impl.common.models import unwrap_model  # noqa: E402


def rank_k_part(delta: torch.Tensor, k: int, name: str = "matrix") -> torch.Tensor:
    """Delta_k: the best rank-k approximation of `delta` (step 2); k = 0 returns `delta` itself."""
    if k == 0:
        return delta
    if k > min(delta.shape):
        raise ValueError(f"lox: k={k} is larger than the rank of {name} ({tuple(delta.shape)})")
    u, s, vh = torch.linalg.svd(delta.float(), full_matrices=False)
    return (u[:, :k] * s[:k]) @ vh[:k, :]


def _chosen(name: str, targets) -> bool:
    return not targets or any(t in name for t in targets)


@torch.no_grad()
def extrapolate(aligned: torch.nn.Module, base: torch.nn.Module, config: Config = Config()) -> torch.nn.Module:
    """A new model with W_a + c * Delta_k on every chosen matrix (steps 1-3); `aligned` and `base` are unchanged."""
    if base is None:
        raise ValueError("lox: needs the base model the aligned model came from")
    check_config(config)
    base_params = dict(base.named_parameters())
    new = copy.deepcopy(aligned)
    for name, param in new.named_parameters():
        if param.ndim < 2 or not _chosen(name, config.targets):
            continue
        if name not in base_params or base_params[name].shape != param.shape:
            raise ValueError(f"lox: the base model has no matrix {name} of shape {tuple(param.shape)}")
        delta = param.float() - base_params[name].float()
        param.copy_((param.float() + config.c * rank_k_part(delta, config.k, name)).to(param.dtype))
    return new


def lora_factors(model: torch.nn.Module) -> dict[str, tuple[torch.nn.Parameter, torch.nn.Parameter, float]]:
    """name of the adapted linear layer -> (lora_A weight, lora_B weight, scaling), for the default adapter."""
    pairs = {}
    for name, module in unwrap_model(model).named_modules():
        lora_a, lora_b = getattr(module, "lora_A", None), getattr(module, "lora_B", None)
        if lora_a is None or lora_b is None or "default" not in lora_a:
            continue
        pairs[name] = (lora_a["default"].weight, lora_b["default"].weight, float(module.scaling["default"]))
    return pairs


@torch.no_grad()
def extrapolate_lora(model: torch.nn.Module, config: Config) -> list[str]:
    """Step 3 written back into the LoRA: s B' A' = s B A + c * (s B A)_k, exactly. Returns the layers changed."""
    changed = []
    for name, (a, b, scaling) in lora_factors(model).items():
        if not _chosen(name, config.targets):
            continue
        r = a.shape[0]
        if config.k > r:
            raise ValueError(f"lox: k={config.k} is larger than the rank of the alignment update of {name} (LoRA r={r})")
        delta = scaling * (b.float() @ a.float())  # [out, in], rank <= r
        u, s, vh = torch.linalg.svd(delta, full_matrices=False)
        u, s, vh = u[:, :r], s[:r], vh[:r, :]
        boost = torch.ones_like(s)
        boost[: config.k or r] += config.c
        b.copy_(((u * (s * boost)) / scaling).to(b.dtype))
        a.copy_(vh.to(a.dtype))
        changed.append(name)
    return changed


class Trainer(HFTTrainer):
    """Plain SFT alignment, then LoX on the trained alignment LoRA before the adapter is saved."""

    config_class, config_check = Config, check_config

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.extrapolated: list[str] = []

    def train(self, *args, **kwargs):
        result = super().train(*args, **kwargs)
        self.extrapolated = extrapolate_lora(self.model, self.defense_config)
        if not self.extrapolated:
            raise ValueError("lox: the aligned model has no LoRA layer to extrapolate (check method_config.targets)")
        return result
