r"""Antidote: post-fine-tuning safety alignment by one-shot pruning of harmful weights.

Paper: KB id `antidote-2024`, arXiv 2408.09600 (Huang et al., "Antidote: Post-fine-tuning Safety Alignment for
Large Language Models against Harmful Fine-tuning", ICML 2025). Official code: git-disl/Antidote (`utils.py`
`prune_wanda_outlier`, `trainer.py` `AntidoteTrainer.save_mask`).

Algorithm (the paper and the official code named above):
1. Run the fine-tuned model over a *re-alignment* set of harmful (prompt, harmful answer) pairs, the Alpaca prompt
   followed by the answer, so the weights that react to harmful content light up.
2. For every weight matrix W (d_out x d_in) that fine-tuning changed, i.e. the LoRA A and B matrices of the
   fine-tuning adapter (q/k/v projections for full fine-tuning), record the input activation energy of each input
   feature j: s_j = mean over calibration tokens of x_j^2 (Wanda's `scaler_row`).
3. Score every weight with Wanda (Sun et al. 2023, eq. 1): S_ij = |W_ij| * sqrt(s_j).
4. Per output row i, mark the top `dense_ratio` fraction of the scores as harmful: k = d_in - floor((1 -
   dense_ratio) * d_in) weights per row (upstream sorts ascending and keeps the first floor((1 - r) d_in)).
5. Zero the marked weights, W <- W * (1 - M). Nothing else changes and nothing is retrained.

Deviations:
* Upstream captures the inputs of decoder layer 0 and then propagates them layer by layer, recording each layer's
  statistics. It only *records* masks during that walk and never zeroes a weight before the walk ends, so every
  layer sees exactly the activations of the unpruned model. One ordinary forward pass with hooks on the target
  matrices therefore gives the same statistics (a test replays upstream's walk and compares), works for any
  architecture peft wraps, and costs one forward pass.
* Upstream divides the running sum by the number of *samples* rather than tokens. That multiplies every s_j of a
  matrix by the same constant, which changes no per-row ranking; we use the mean over tokens.
* Padding tokens are left out of the statistics (upstream uses batch size 1, so it has none); the batch size is
  therefore free here and only changes speed.
* The OWL per-layer sparsity code upstream is commented out (every layer uses `dense_ratio`); we do not ship it.
* `score="magnitude"` is upstream's `sample_num == 0` fallback (|W| alone) and `score="random"` its
  `random_prune` ablation; both are kept as options, not defaults.

Usage:
    python -m reference_impl run reference_impl/configs/miniature_world.yaml --method antidote \
        --set method_config.dense_ratio=0.1
    # or from Python, on a fine-tuned peft model:
    from reference_impl.defenses import antidote
    repaired = antidote.apply(model, tokenizer, config=antidote.Config(), data={"harmful": rows}, context=ctx)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reference_impl.common.method import MethodSpec
from reference_impl.common.needs import available
from reference_impl.common.templates import calibration_batches  # noqa: F401 - step 1's batches

SCORES = ("wanda", "magnitude", "random")
TARGETS = ("auto", "lora", "qkv")


# `duplicates` pairs the field(default=..., metadata={help, source}) declarations below with the other defenses'
# Configs: same shape, different data (each field's paper default and its source); there is no logic to share.
@dataclass(frozen=True)
class Config:
    """Antidote settings; defaults are those of the official scripts."""

    dense_ratio: float = field(
        default=0.1,
        metadata={
            "help": "Fraction of each output row's weights, ranked by score, that is zeroed as harmful.",
            "source": "script/finetune/antidote_poison_ratio.sh (--dense_ratio 0.1)",
        },
    )
    harmful_samples: int = field(
        default=2000,
        metadata={
            "help": "Number of harmful (prompt, answer) pairs used for calibration (0 = use them all).",
            "source": "script/finetune/antidote_poison_ratio.sh (--bad_sample_num 2000)",
        },
    )
    score: str = field(
        default="wanda",
        metadata={
            "help": "Weight score: wanda (|W| * sqrt(mean x^2)), magnitude (|W|, no data) or random (ablation).",
            "source": "paper §4 (Wanda score); utils.py prune_wanda_outlier, sample_num == 0 and random_prune",
        },
    )
    target: str = field(
        default="auto",
        metadata={
            "help": "Which matrices to prune: lora (A and B of the fine-tuning adapter), qkv (q/k/v projections, "
            "for full fine-tuning) or auto (lora when the model has a LoRA adapter, else qkv).",
            "source": "utils.py find_layers (name contains 'lora'; q/k/v when full_finetuning=True)",
        },
    )
    batch_size: int = field(
        default=4,
        metadata={
            "help": "Calibration batch size; padding is excluded from the statistics, so it only changes speed.",
            "source": "not in the paper (upstream uses 1)",
        },
    )
    max_length: int | None = field(
        default=None,
        metadata={
            "help": "Calibration sequences are truncated to this many tokens (None: the run's model.max_length, "
            "256 when called directly).",
            "source": "train.py model_max_length (2048 upstream)",
        },
    )
    seed: int = field(default=43, metadata={"help": "Seed for score=random.", "source": "git-disl scripts (seed 43)"})


def check_config(config: Config, context: Any) -> None:
    """Raise ValueError with a clear message when the config or the available inputs cannot work."""
    if not 0.0 <= config.dense_ratio <= 1.0:
        raise ValueError(f"antidote.dense_ratio must be in [0, 1], got {config.dense_ratio}")
    if config.score not in SCORES:
        raise ValueError(f"antidote.score must be one of {', '.join(SCORES)}, got {config.score!r}")
    if config.target not in TARGETS:
        raise ValueError(f"antidote.target must be one of {', '.join(TARGETS)}, got {config.target!r}")
    if config.harmful_samples < 0:
        raise ValueError(f"antidote.harmful_samples must be >= 0, got {config.harmful_samples}")
    if config.batch_size < 1 or (config.max_length is not None and config.max_length < 2):
        raise ValueError("antidote.batch_size must be >= 1 and antidote.max_length >= 2")
    if config.score == "wanda" and not available(context, "harmful_data"):
        raise ValueError(
            "antidote needs a harmful calibration dataset (harmful prompt + harmful answer pairs) for its Wanda "
            "scores: provide one, or set antidote.score=magnitude to prune on weight magnitude alone"
        )


METHOD = MethodSpec(stage="post_fine_tuning", config=Config, needs=("harmful_data",), check=check_config,
                    post_process="apply")


# ----------------------------------------------------------------------------------------------------------------
# DEFENSE LOGIC
# ----------------------------------------------------------------------------------------------------------------


def apply(model, tokenizer, *, config: Config, data: Mapping[str, Any] | None, context: Any = None):
    """Return a pruned copy of the fine-tuned `model`; the input model is left untouched."""
    check_config(config, context if context is not None else {"harmful_data": bool(data and data.get("harmful"))})
    repaired = copy.deepcopy(model)
    batches = None
    if config.score == "wanda":
        rows = list((data or {}).get("harmful") or [])
        if config.harmful_samples:
            rows = rows[: config.harmful_samples]
        if not rows:
            raise ValueError("antidote: the harmful calibration dataset is empty")
        run = context if isinstance(context, Mapping) else {}
        # The calibration text uses the template the model was fine-tuned with (the run's), else Antidote's own.
        batches = calibration_batches(
            rows, tokenizer, batch_size=config.batch_size, max_length=config.max_length or run.get("max_length") or 256,
            trailing_newline=run.get("trailing_newline", True),
        )
    prune(repaired, batches, config)
    return repaired


def prune(model, batches: Iterable[Mapping[str, Any]] | None, config: Config) -> dict[str, int]:
    """Prune `model` in place (steps 2-5); return the number of zeroed weights per matrix name."""
    import torch

    targets = target_matrices(model, config.target)
    if config.score == "wanda":
        energy = input_energy(model, targets, batches)
    generator = torch.Generator().manual_seed(config.seed)
    zeroed = {}
    with torch.no_grad():
        for name, linear in targets.items():
            weight = linear.weight
            if config.score == "wanda":
                scores = wanda_scores(weight, energy[name])
            elif config.score == "magnitude":
                scores = weight.detach().abs().float().cpu()
            else:
                scores = torch.rand(weight.shape, generator=generator)
            mask = harmful_mask(scores, config.dense_ratio).to(weight.device)
            weight.masked_fill_(mask, 0.0)  # W <- W * (1 - M), step 5
            zeroed[name] = int(mask.sum())
    return zeroed


def target_matrices(model, target: str = "auto") -> dict[str, Any]:
    """The linear layers Antidote prunes, by qualified module name.

    lora: the A and B matrices of the active LoRA adapter(s) (peft keeps them as `lora_A[adapter]` /
    `lora_B[adapter]` inside every wrapped layer); qkv: the q/k/v projections of a fully fine-tuned model.
    """
    from torch import nn

    lora = {}
    for name, module in model.named_modules():
        if hasattr(module, "lora_A") and hasattr(module, "lora_B") and hasattr(module, "active_adapters"):
            for adapter in module.active_adapters:
                if adapter in module.lora_A:
                    lora[f"{name}.lora_A.{adapter}"] = module.lora_A[adapter]
                    lora[f"{name}.lora_B.{adapter}"] = module.lora_B[adapter]
    if target == "lora" and not lora:
        raise ValueError("antidote.target=lora but the fine-tuned model has no LoRA adapter (use target=qkv)")
    if target == "lora" or (target == "auto" and lora):
        return lora
    qkv = {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in ("q_proj", "k_proj", "v_proj")
    }
    if not qkv:
        raise ValueError("antidote: found neither LoRA matrices nor q_proj/k_proj/v_proj layers to prune")
    return qkv


def input_energy(model, targets: Mapping[str, Any], batches: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """s_j = mean over non-padding calibration tokens of x_j^2, for the input x of every target matrix (step 2).

    One forward pass with hooks: upstream's layer-by-layer walk sees the same activations (see Deviations).
    """
    import torch

    from reference_impl.common.models import visit_linear_inputs

    sums = {name: torch.zeros(linear.in_features, dtype=torch.float64) for name, linear in targets.items()}
    counts = dict.fromkeys(targets, 0)

    def add(name, x):
        x = x.double()
        sums[name] += (x * x).sum(dim=0).cpu()
        counts[name] += x.shape[0]

    visit_linear_inputs(model, targets, batches, add)
    missing = [name for name, n in counts.items() if n == 0]
    if missing:
        raise ValueError(f"antidote: no calibration activations reached {missing[0]} (is the adapter active?)")
    return {name: (sums[name] / counts[name]).float() for name in targets}


def wanda_scores(weight, energy):
    """S_ij = |W_ij| * sqrt(s_j) (Wanda, eq. 1); weight [d_out, d_in], energy [d_in]."""
    return weight.detach().abs().float().cpu() * energy.float().cpu().sqrt().unsqueeze(0)


def harmful_mask(scores, dense_ratio: float):
    """Boolean mask of the top `dense_ratio` scores of every row (step 4), ties resolved as upstream.

    Upstream sorts each row ascending (stable) and keeps the first floor((1 - r) * d_in) entries; the rest are the
    harmful ones. `math.floor` of the same float product reproduces its `int(...)`.
    """
    import torch

    d_in = scores.shape[1]
    kept = math.floor(d_in * (1 - dense_ratio))
    order = torch.sort(scores, dim=1, stable=True).indices
    mask = torch.zeros(scores.shape, dtype=torch.bool)
    mask.scatter_(1, order[:, kept:], True)
    return mask
