r"""SafeDelta: keep, layer by layer, only the fine-tuning deltas a safety budget allows, and compensate the rest.

Paper: KB id `safe-delta-2025`, arXiv 2505.12038 ("Safe Delta: Consistently Preserving Safety when Fine-Tuning
LLMs on Diverse Datasets", ICML 2025). Official code: ColinLu50/SafeDelta (`llama2/run_safedelta.py`,
`llama2/safedelta/safedelta_runner.py`, adapted from IST-DASLab's SparseGPT).

Algorithm (the paper and the official code named above; W_a aligned, W_f fine-tuned, both d_out x d_in, for every linear layer of every
decoder block):
1. Run the *aligned* model over `nsamples` = 128 safety calibration samples (prompt + safe answer) and collect,
   for each linear layer, the Hessian of its layer-wise reconstruction loss, H = (2 / n) sum_tokens x x^T
   (n = number of samples, x the layer input).
2. Dampen: H <- H + percdamp * mean(diag H) * I (a column no token reaches gets H_jj = 1 first). Take the upper
   Cholesky factor U of H^-1 (H^-1 = U^T U) and d_j = U_jj, so d_j^2 = [(H_{>=j,>=j})^-1]_jj.
3. Per block of `blocksize` = 2048 columns, with delta = W_f - W (W: the current, compensated weights):
   * OBS cost of adopting delta_ij: c_ij = delta_ij^2 / d_j^2; sensitivity key t_j = 1 / d_j^2 (per column).
   * Sort the entries by t ascending (least sensitive first), drop the `discard` = 15% with the largest t, and
     accept entries in that order while the running sum of c stays <= the budget
         budget = mean_block(t) * s * (d_out / 4096) * (blocksize / 4096)
     (upstream: `tmp.mean() * s / 2 * rows / 4096`, "2 = 4096 / blocksize"). Accepted entries take W_f's value,
     the others keep W's.
4. Safety compensation (OBS): walk the block in sub-blocks of 4 columns; for the sub-block's columns S,
   err_S = (w_S - q_S) / d_S (q: the chosen values, w: the values at the sub-block's start) and every later
   column j gets w_j -= err_S U[S, j], inside the block and, after the block, in every later block. This keeps
   the layer's output on the safety data close to the aligned layer's (eq. of SparseGPT's lazy batch update).
5. The result is the aligned model with these linear weights (embeddings, norms and the LM head stay aligned).

Deviations:
* Upstream walks the aligned model layer by layer, feeding each block the outputs of the aligned (unedited)
  block before it; the edits happen after a block's statistics are taken. One ordinary forward pass of the
  aligned model with hooks therefore sees the same inputs; that is what we run (any architecture, one pass).
* Upstream sorts with `torch.argsort`, which is not stable, and every entry of a column shares t; ties (whole
  columns) are broken arbitrarily on the GPU. We sort stably (row order inside a column).
* Upstream keeps `sorted[0:-int(0.15 n)]`, which is *empty* when int(0.15 n) = 0 (a matrix with fewer than 7
  entries accepts nothing); we keep n - int(0.15 n) entries.
* Calibration data: upstream uses 128 of its own safe self-generated answers with `[INST]` and four system
  prompts; the pipeline passes the run's alignment rows (harmful prompt -> refusal), in the run's template.
  Padding is left out of H (upstream uses batch size 1, without padding).
* The budget formula's 4096 is Llama-2-7B's hidden size (upstream hard-codes it): on small models the same s is
  a much smaller budget.
* A LoRA fine-tune is merged into full weights first (SafeDelta is defined on full weights; the paper fine-tunes
  fully). The output is a full model, not an adapter.

Usage:
    python -m reference_impl run reference_impl/configs/miniature_world.yaml --method safedelta \
        --set method_config.budget=0.11
    # from Python, with the fine-tuned model (plain, or peft on its aligned model) and the aligned model:
    from reference_impl.defenses import safedelta
    safe = safedelta.apply(model, tokenizer, config=safedelta.Config(), data={"alignment": rows},
                           context={"aligned_model": aligned})
"""

from __future__ import annotations

import copy
import logging
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reference_impl.common.method import MethodSpec
from reference_impl.common.needs import available

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Config:
    """SafeDelta settings; defaults are those of the official pure-bad script and runner."""

    budget: float = field(
        default=0.11,
        metadata={
            "help": "s: the safety budget per block (larger keeps more of the fine-tuning delta; 0 keeps none).",
            "source": "llama2/scripts/purebad_safedelta.sh (--scale 0.11); 0.1 for SAMSum (dirtysummary_safedelta.sh)",
        },
    )
    nsamples: int = field(
        default=128,
        metadata={"help": "Number of safety calibration samples.", "source": "run_safedelta.py run_safedelta(nsamples=128)"},
    )
    blocksize: int = field(
        default=2048,
        metadata={"help": "Columns per selection block (the budget is per block).", "source": "run_safedelta.py (blocksize=2048)"},
    )
    sub_block: int = field(
        default=4,
        metadata={"help": "Columns whose errors are compensated together (1 = exact column-by-column OBS).",
                  "source": "safedelta_runner.py adjust_delta (sub_block_size = 4)"},
    )
    percdamp: float = field(
        default=0.01,
        metadata={"help": "Damping added to H, as a fraction of mean(diag H).", "source": "run_safedelta.py (percdamp=0.01)"},
    )
    discard: float = field(
        default=0.15,
        metadata={"help": "Fraction of each block's entries, the most sensitive (largest t), never adopted.",
                  "source": "safedelta_runner.py adjust_delta (sorted_indices[0:-int(0.15 * n)])"},
    )
    batch_size: int = field(
        default=8,
        metadata={"help": "Calibration batch size; padding is left out of H, so it only changes speed.",
                  "source": "not in the paper (upstream uses 1)"},
    )
    max_length: int | None = field(
        default=None,
        metadata={"help": "Calibration sequences are cut to this many tokens (None: the run's model.max_length, "
                          "256 when called directly).", "source": "run_safedelta.py seq_len=512 (unused upstream)"},
    )
    seed: int = field(default=42, metadata={"help": "Seed of the calibration sample draw.",
                                            "source": "safedelta_runner.py get_safe_data(seed=42)"})


def check_config(config: Config, context: Any) -> None:
    """Raise ValueError with a one-line message when the config or the run's inputs cannot work."""
    budget = config.budget
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not math.isfinite(budget) or budget < 0:
        raise ValueError(f"safedelta.budget (s) must be a finite number >= 0, got {budget!r}")
    for name in ("nsamples", "blocksize", "sub_block", "batch_size"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"safedelta.{name} must be a positive integer, got {value!r}")
    if not 0.0 < config.percdamp <= 1.0:
        raise ValueError(f"safedelta.percdamp must be in (0, 1], got {config.percdamp}")
    if not 0.0 <= config.discard < 1.0:
        raise ValueError(f"safedelta.discard must be in [0, 1), got {config.discard}")
    if config.max_length is not None and config.max_length < 2:
        raise ValueError(f"safedelta.max_length must be >= 2, got {config.max_length}")
    if not available(context, "aligned_model"):
        raise ValueError("safedelta needs the aligned model's full weights (aligned_model): it edits W_aligned "
                         "toward W_finetuned, and the calibration pass runs on it")
    if not available(context, "alignment_data"):
        raise ValueError("safedelta needs safety calibration data (alignment_data: prompt -> safe answer rows)")


METHOD = MethodSpec(
    stage="post_fine_tuning",
    config=Config,
    needs=("aligned_model", "alignment_data"),
    check=check_config,
    post_process="apply",
)


# ----------------------------------------------------------------------------------------------------------------
# DEFENSE LOGIC
# ----------------------------------------------------------------------------------------------------------------


def apply(model, tokenizer, *, config: Config, data: Mapping[str, Any] | None, context: Any = None):
    """Return a new full model: the aligned model with every decoder linear edited by SafeDelta; inputs untouched."""
    from reference_impl.common.templates import calibration_batches
    from reference_impl.common.needs import get

    rows = list((data or {}).get("alignment") or [])
    if context is None:
        context = {}
    if isinstance(context, Mapping):
        context = {**context, "alignment_data": rows or context.get("alignment_data")}
    check_config(config, context)
    finetuned = full_weights(model)
    aligned = get(context, "aligned_model")
    if not rows:
        raise ValueError("safedelta: the safety calibration set (data['alignment']) is empty")
    rows = list(rows)
    random.Random(config.seed).shuffle(rows)  # upstream shuffles its file with seed 42, then takes the first n
    run = context if isinstance(context, Mapping) else {}
    batches = calibration_batches(
        rows[: config.nsamples], tokenizer, batch_size=config.batch_size,
        max_length=config.max_length or run.get("max_length") or 256, trailing_newline=run.get("trailing_newline", True),
    )
    if not hasattr(aligned, "named_modules"):
        raise ValueError(f"safedelta: aligned_model must be a loaded model with full weights, got {type(aligned).__name__}")
    from reference_impl.common.models import merge_lora

    safe = merge_lora(copy.deepcopy(aligned))  # an aligned model given as base + alignment LoRA is merged first
    report = repair(safe, finetuned, batches, config)
    kept = sum(r["adopted"] for r in report.values()) / max(1, sum(r["entries"] for r in report.values()))
    log.info("safedelta: adopted %.1f%% of the delta entries over %d linear layers", 100 * kept, len(report))
    safe.safedelta_report = report
    return safe


def full_weights(model):
    """{module name: weight} of the fine-tuned model's full linear weights (a LoRA is merged into a copy first)."""
    from reference_impl.common.models import is_peft_model, merge_lora

    if isinstance(model, Mapping) or isinstance(model, (str, bytes)) or not hasattr(model, "named_modules"):
        raise ValueError("safedelta needs the fine-tuned model's full weights; got "
                         f"{type(model).__name__} (a LoRA adapter alone?): load it onto its aligned model first")
    if is_peft_model(model):
        model = merge_lora(copy.deepcopy(model))
    return {name: module.weight for name, module in model.named_modules() if _is_linear(module)}


def repair(aligned, finetuned: Mapping[str, Any], batches: Iterable[Mapping[str, Any]], config: Config) -> dict:
    """Steps 1-5 in place on `aligned` (a plain model); `finetuned` maps module names to W_f. One report row per layer."""
    import torch

    targets = decoder_linears(aligned)
    hessians = calibration_hessians(aligned, targets, batches)
    report = {}
    with torch.no_grad():
        for name, linear in targets.items():
            if name not in finetuned:
                raise ValueError(f"safedelta: the fine-tuned model has no {name}.weight")
            w_f = finetuned[name]
            if w_f.shape != linear.weight.shape:
                raise ValueError(f"safedelta: {name} is {tuple(w_f.shape)} in the fine-tuned model but "
                                 f"{tuple(linear.weight.shape)} in the aligned model")
            new, adopted = safe_delta_weight(linear.weight, w_f.to(linear.weight.device), hessians[name], config)
            changed = int((w_f.to(linear.weight.device) != linear.weight).sum())
            linear.weight.copy_(new.to(linear.weight.dtype))
            report[name] = {"entries": linear.weight.numel(), "changed_by_finetuning": changed, "adopted": int(adopted)}
    return report


def decoder_linears(model) -> dict[str, Any]:
    """Every nn.Linear inside the decoder blocks, by qualified name (upstream's find_layers per block)."""
    from reference_impl.common.models import decoder_layers

    layers = {id(layer) for layer in decoder_layers(model)}
    found = {}
    for name, module in model.named_modules():
        if id(module) in layers:
            for child, sub in module.named_modules():
                if _is_linear(sub):
                    found[f"{name}.{child}"] = sub
    if not found:
        raise ValueError("safedelta: found no linear layers in the model's decoder blocks")
    return found


def _is_linear(module) -> bool:
    from torch import nn

    return isinstance(module, nn.Linear) and not hasattr(module, "lora_A")


def calibration_hessians(model, targets: Mapping[str, Any], batches: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Step 1: H = (2 / n_samples) sum over non-padding tokens of x x^T for the input x of every target (fp32).

    One forward pass of the aligned model with hooks (upstream's layer-by-layer walk sees the same inputs).
    """
    import torch

    from reference_impl.common.models import visit_linear_inputs

    sums = {name: None for name in targets}

    def add(name, x):
        x = x.float()
        sums[name] = x.T @ x if sums[name] is None else sums[name] + x.T @ x

    samples = visit_linear_inputs(model, targets, batches, add)
    missing = [name for name, h in sums.items() if h is None]
    if missing:
        raise ValueError(f"safedelta: no calibration activations reached {missing[0]}")
    return {name: 2.0 * h / samples for name, h in sums.items()}


def inverse_hessian_factor(hessian, percdamp: float):
    """Step 2: the upper Cholesky factor U of (H + damping)^-1, after giving dead columns H_jj = 1."""
    import torch

    h = hessian.clone()
    diag = torch.diagonal(h)
    dead = diag == 0
    diag[dead] = 1.0
    diag += percdamp * torch.mean(diag)
    lower = torch.linalg.cholesky(h)
    return torch.linalg.cholesky(torch.cholesky_inverse(lower), upper=True)


def safe_delta_weight(w_aligned, w_finetuned, hessian, config: Config):
    """Steps 2-4 for one d_out x d_in matrix; returns (new weight, number of adopted entries).

    Computes in float32 (float64 when the inputs are float64), as upstream does with TF32 off.
    """
    import torch

    dtype = torch.promote_types(w_aligned.dtype, torch.float32)
    w = w_aligned.detach().to(dtype).clone()
    w_f = w_finetuned.detach().to(dtype)
    u = inverse_hessian_factor(hessian.to(w.device, dtype), config.percdamp)
    d = torch.diagonal(u)
    rows, columns = w.shape
    adopted = 0
    for i1 in range(0, columns, config.blocksize):
        i2 = min(i1 + config.blocksize, columns)
        count = i2 - i1
        block = w[:, i1:i2].clone()
        d_block = d[i1:i2]
        accepted = selection_mask(block, w_f[:, i1:i2], d_block, config, rows)
        adopted += int(accepted.sum())
        chosen = torch.empty_like(block)
        errors = torch.empty_like(block)
        u_block = u[i1:i2, i1:i2]
        for j1 in range(0, count, config.sub_block):  # step 4, inside the block
            j2 = min(j1 + config.sub_block, count)
            current = block[:, j1:j2]
            q = torch.where(accepted[:, j1:j2], w_f[:, i1 + j1 : i1 + j2], current)
            err = (current - q) / d_block[j1:j2].unsqueeze(0)
            block[:, j2:] -= err @ u_block[j1:j2, j2:]
            chosen[:, j1:j2] = q
            errors[:, j1:j2] = err
        w[:, i1:i2] = chosen
        w[:, i2:] -= errors @ u[i1:i2, i2:]  # step 4, into the later blocks
    return w, adopted


def selection_mask(block, w_f_block, d_block, config: Config, rows: int):
    """Step 3 for one block: which entries take W_f's value (boolean, the block's shape)."""
    import torch

    t = (1.0 / d_block**2).unsqueeze(0).expand_as(block)  # 1 / [H^-1]_jj per column
    cost = ((w_f_block - block) ** 2 * t).flatten()  # OBS loss increase of adopting each delta
    order = torch.sort(t.flatten(), stable=True).indices
    order = order[: t.numel() - int(config.discard * t.numel())]  # the most sensitive entries are never adopted
    budget = t.mean() * config.budget * (rows / 4096) * (config.blocksize / 4096)
    within = torch.cumsum(cost[order], dim=0) <= budget
    mask = torch.zeros(t.numel(), dtype=torch.bool, device=block.device)
    mask[order[within]] = True
    return mask.reshape(block.shape)
