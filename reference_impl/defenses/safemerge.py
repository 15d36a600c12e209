r"""SafeMERGE: merge a safety LoRA into the fine-tuning LoRA, only on the layers whose update left the safety subspace.

Paper: KB id `safemerge-2025`, arXiv 2503.17239 ("SafeMERGE: Preserving Safety Alignment in Fine-Tuned Large
Language Models via Selective Layer-Wise Model Merging", ICLR 2025, short paper).
Official code: aladinD/SafeMERGE (`utils.py` `SafeLoRAMerger`, `get_safemerge_model.py`), which merges with
peft's weighted-adapter arithmetic.

Algorithm (the paper and the official code named above):
1. For every module the fine-tuning LoRA wraps, build Safe LoRA's projection C_i = V_i V_i^T / ||V_i||_F with
   V_i = W_aligned - W_base (an unaligned/aligned pair; `common.subspace.projection_matrix`). When ||V_i||_F is 0
   (alignment never touched the module) C_i = 0.
2. Score the layer: cos_i = cos(vec(C_i B_ft A_ft), vec(B_ft A_ft)), rounded to 5 decimals as upstream.
3. Choose the layer's weights: (w_ft, w_safe) = (1 - gamma, gamma) when cos_i < tau (the fine-tuning update
   drifted away from the alignment subspace), otherwise (1, 0).
4. Merge the two adapters of the layer on A and B *separately* (peft's "linear" weighted adapter, eq. of
   `_generalized_task_arithmetic_weighted_adapter`): with s_k = alpha_k / r_k the scale of adapter k,
       A_new = sum_k sqrt(w_k s_k) A_k,      B_new = sum_k sqrt(w_k s_k) B_k,
   and the merged adapter has scale 1, so its update is B_new A_new. That product has cross terms
   (sqrt(w_ft w_safe s_ft s_safe) (B_ft A_safe + B_safe A_ft)); it is not a blend of the two updates.
   `combination="dare_linear"` first applies DARE to every A_k and B_k (keep each entry with probability
   `density`, divide the kept ones by `density`), on EVERY LoRA layer: upstream routes the layers weighted
   (1, 0) through the same peft merge, so DARE drops and rescales their fine-tuned A and B too.
No data and no training: one projection, one cosine and at most one merge per LoRA layer.

Deviations:
* Upstream builds a new adapter of rank r and alpha r (scale 1). We keep the fine-tuning adapter's own rank and
  alpha and store B_new / s_ft in it, so s_ft B A equals B_new A_new exactly and the saved adapter keeps its
  config. With `linear` (the default), layers with weights (1, 0) are left bit-for-bit as they were (upstream
  rescales A and B by sqrt(s_ft) each, the same product); with `dare_linear` they go through DARE as upstream
  (aladinD/SafeMERGE at 2af08c1, ``utils.py`` ``SafeLoRAMerger.add_weighted_adapter_safelora``: the
  ``local_weights = [1.0, 0.0]`` branch at L281 also reaches peft's ``_generalized_task_arithmetic_weighted_adapter``
  at L284, for every layer).
* DARE's masks come from a generator seeded with `seed` (``torch.rand < density``); peft draws them with
  ``torch.bernoulli`` from the global generator: the same distribution, other draws.
* Upstream pairs the projection matrices with the LoRA layers by walking the model's parameter list in order
  (every parameter whose name contains a target-module name); a bias or a reordering shifts every later layer.
  We match by module name and check every shape.
* In the pipeline the safety adapter is the run's alignment LoRA (trained on the alignment set, on the base
  model), the only safety LoRA a run has; the paper trains a separate one on the aligned model. A dedicated one
  can be named in `safety_adapter`.
* A module that the safety adapter does not wrap is skipped upstream after the new adapter's A and B were zeroed,
  which silently deletes the fine-tuning update there. Here it is an error naming the module, as is a rank
  mismatch between the two adapters (peft's "linear" combination needs equal ranks).

Usage:
    python -m reference_impl run reference_impl/configs/miniature_world.yaml --method safemerge \
        --set method_config.threshold=0.35 --set method_config.safety_weight=0.2
    # (the run's alignment LoRA is the safety adapter; --set method_config.safety_adapter=DIR names another)
    # from Python, with the fine-tuned peft model, a safety LoRA of the same rank (a peft model or an adapter
    # directory) and the base/aligned pair:
    from reference_impl.defenses import safemerge
    safe = safemerge.apply(model, tokenizer, config=safemerge.Config(), data=None,
                           context={"base_model": base, "aligned_model": aligned, "safety_adapter": "safety/"})
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference_impl.common.method import MethodSpec
from reference_impl.common.needs import available

COMBINATIONS = ("linear", "dare_linear")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Config:
    """SafeMERGE settings; defaults are those of the official README example."""

    threshold: float = field(
        default=0.35,
        metadata={
            "help": "tau: a LoRA layer is merged with the safety adapter when cos(C B A, B A) < tau.",
            "source": "aladinD/SafeMERGE README / get_safemerge_model.py (threshold=0.35)",
        },
    )
    safety_weight: float = field(
        default=0.2,
        metadata={
            "help": "gamma: the safety adapter's weight on merged layers; the fine-tuned adapter gets 1 - gamma.",
            "source": "aladinD/SafeMERGE utils.py default_merge_ratio=0.2, README weights [0.8, 0.2]",
        },
    )
    combination: str = field(
        default="linear",
        metadata={
            "help": "Merge arithmetic on A and B: linear (weighted sum) or dare_linear (DARE, then weighted sum).",
            "source": "aladinD/SafeMERGE utils.py (only linear and dare_linear are supported); README uses linear",
        },
    )
    density: float | None = field(
        default=None,
        metadata={
            "help": "dare_linear only: the fraction of A and B entries DARE keeps (the rest are dropped).",
            "source": "peft add_weighted_adapter(density=...); no value in the README",
        },
    )
    safety_adapter: str | None = field(
        default=None,
        metadata={
            "help": "Directory of a dedicated safety LoRA (same rank as the fine-tuning LoRA); None: the run's "
            "safety adapter, the alignment LoRA.",
            "source": "not in the paper (the paper trains one safety adapter on safety data, once)",
        },
    )
    seed: int = field(default=43, metadata={"help": "Seed of DARE's random drops.", "source": "git-disl scripts (43)"})


def check_config(config: Config, context: Any) -> None:
    """Raise ValueError with a one-line message when the config or the run's inputs cannot work."""
    if not -1.0 <= config.threshold <= 1.0:
        raise ValueError(f"safemerge.threshold is a cosine and must be in [-1, 1], got {config.threshold}")
    if not 0.0 <= config.safety_weight <= 1.0:
        raise ValueError(f"safemerge.safety_weight must be in [0, 1], got {config.safety_weight}")
    if config.combination not in COMBINATIONS:
        raise ValueError(f"safemerge.combination must be one of {', '.join(COMBINATIONS)}, got {config.combination!r}")
    if config.combination == "dare_linear" and (config.density is None or not 0.0 < config.density <= 1.0):
        raise ValueError(f"safemerge.density must be in (0, 1] with combination=dare_linear, got {config.density}")
    if config.safety_adapter is not None and not Path(config.safety_adapter).is_dir():
        raise ValueError(f"safemerge.safety_adapter: no adapter directory at {config.safety_adapter}")
    if config.safety_adapter is None and not available(context, "safety_adapter"):
        raise ValueError(
            "safemerge needs a safety adapter (a LoRA trained on safety data, same rank as the fine-tuning LoRA): "
            "the run has none (it skips alignment); set method_config.safety_adapter to its directory"
        )
    missing = [need for need in ("base_model", "aligned_model") if not available(context, need)]
    if missing:
        raise ValueError(
            "safemerge needs an unaligned/aligned model pair (base_model and aligned_model) for its layer "
            f"similarity; missing: {', '.join(missing)}"
        )


METHOD = MethodSpec(
    stage="post_fine_tuning",
    config=Config,
    needs=("base_model", "aligned_model", "safety_adapter"),
    check=check_config,
    post_process="apply",
    version=2,  # 2: dare_linear drops and rescales the (1, 0) layers too (issue 23); linear is unchanged
)


# ----------------------------------------------------------------------------------------------------------------
# DEFENSE LOGIC
# ----------------------------------------------------------------------------------------------------------------


def apply(model, tokenizer, *, config: Config, data: Any = None, context: Any = None):
    """Return a copy of the fine-tuned peft `model` with its LoRA merged with the safety LoRA on the chosen layers."""
    from reference_impl.common.needs import get

    if isinstance(context, Mapping) or context is None:
        context = dict(context or {})
        if config.safety_adapter is not None:  # a dedicated safety LoRA named in the config replaces the run's
            context["safety_adapter"] = config.safety_adapter
    check_config(config, context)
    merged = copy.deepcopy(model)
    safety = adapter_factors(get(context, "safety_adapter"))
    report = merge(merged, safety, get(context, "base_model"), get(context, "aligned_model"), config)
    chosen = [row["module"] for row in report if row["merged"]]
    log.info("safemerge: merged %d of %d LoRA layers: %s", len(chosen), len(report), ", ".join(chosen))
    merged.safemerge_report = report
    return merged


def merge(model, safety: Mapping[str, tuple], base, aligned, config: Config) -> list[dict[str, Any]]:
    """Steps 1-4 in place on the fine-tuned peft `model`; one report row per LoRA layer (module, cos, merged)."""
    import torch

    from reference_impl.common.subspace import module_weights, plain_name, projection_matrix, update_cosine

    base_weights, aligned_weights = module_weights(base), module_weights(aligned)
    generator = torch.Generator().manual_seed(config.seed)
    rows = []
    with torch.no_grad():
        for name, (lora_a, lora_b, scale) in _factors(model, None).items():
            key = plain_name(name)
            if key not in safety:
                raise ValueError(f"safemerge: the safety adapter has no LoRA on {key} (the fine-tuning adapter has)")
            safe_a, safe_b, safe_scale = safety[key]
            if safe_a.shape != lora_a.shape or safe_b.shape != lora_b.shape:
                raise ValueError(
                    f"safemerge: LoRA rank mismatch between adapters on {key}: fine-tuning A/B "
                    f"{tuple(lora_a.shape)}/{tuple(lora_b.shape)}, safety A/B {tuple(safe_a.shape)}/{tuple(safe_b.shape)}"
                )
            if key not in base_weights or key not in aligned_weights:
                raise ValueError(f"safemerge: {key}.weight is missing from the base or the aligned model")
            if tuple(base_weights[key].shape) != (lora_b.shape[0], lora_a.shape[1]):
                raise ValueError(f"safemerge: {key} is {tuple(base_weights[key].shape)} in the base model, but the "
                                 f"LoRA update is {(lora_b.shape[0], lora_a.shape[1])}")
            c = projection_matrix(aligned_weights[key], base_weights[key], device=lora_b.device)
            # Step 2; a module alignment left unchanged has C = 0 upstream, hence cos 0.
            cos = 0.0 if c is None else update_cosine(c, lora_a, lora_b)
            cos = round(cos, 5)
            chosen = cos < config.threshold  # step 3 (strict, as upstream)
            # Step 4. A (1, 0) layer only changes under DARE (upstream merges every layer through peft).
            if chosen or config.combination == "dare_linear":
                weights = (1.0 - config.safety_weight, config.safety_weight) if chosen else (1.0, 0.0)
                new_a, new_b = merged_factors(
                    [(lora_a, lora_b, scale), (safe_a.to(lora_a.device), safe_b.to(lora_b.device), safe_scale)],
                    weights, config, generator,
                )
                lora_a.copy_(new_a.to(lora_a.dtype))
                lora_b.copy_((new_b / scale).to(lora_b.dtype))  # the adapter keeps its scale s_ft: s_ft B A = B_new A_new
            rows.append({"module": name, "cos": cos, "merged": bool(chosen)})
    return rows


def merged_factors(adapters, weights, config: Config, generator=None):
    """Step 4: (A_new, B_new) = (sum_k sqrt(w_k s_k) A_k, sum_k sqrt(w_k s_k) B_k), after DARE if asked."""
    new_a = new_b = None
    for (lora_a, lora_b, scale), weight in zip(adapters, weights, strict=True):
        factor = math.sqrt(weight * scale)
        a, b = lora_a.detach().float(), lora_b.detach().float()
        if config.combination == "dare_linear":
            a, b = dare(a, config.density, generator), dare(b, config.density, generator)
        new_a = factor * a if new_a is None else new_a + factor * a
        new_b = factor * b if new_b is None else new_b + factor * b
    return new_a, new_b


def dare(tensor, density: float, generator=None):
    """DARE (Yu et al. 2023): keep each entry with probability `density` and divide the kept ones by it."""
    import torch

    keep = torch.rand(tensor.shape, generator=generator) < density
    return tensor * keep.to(tensor.device, tensor.dtype) / density


def adapter_factors(source) -> dict[str, tuple[Any, Any, float]]:
    """{module name without peft's prefix: (A [r, d_in], B [d_out, r], scale)} of a safety LoRA.

    `source` is a peft model (its active adapter) or a saved adapter directory (`adapter_config.json` and
    `adapter_model.safetensors`, as peft's `save_pretrained` writes them; read directly, no model copy).
    """
    from reference_impl.common.subspace import plain_name

    if isinstance(source, (str, Path)):
        return _read_adapter_dir(Path(source))
    if hasattr(source, "named_modules"):
        return {plain_name(name): factors for name, factors in _factors(source, None).items()}
    raise ValueError(f"safemerge: safety_adapter must be a peft model or an adapter directory, got {type(source).__name__}")


def _read_adapter_dir(directory: Path) -> dict[str, tuple[Any, Any, float]]:
    import json

    from safetensors.torch import load_file

    from reference_impl.common.subspace import plain_name

    config_path, weights_path = directory / "adapter_config.json", directory / "adapter_model.safetensors"
    if not config_path.exists() or not weights_path.exists():
        raise ValueError(f"safemerge: safety_adapter {directory} is not a LoRA adapter directory "
                         "(needs adapter_config.json and adapter_model.safetensors)")
    settings = json.loads(config_path.read_text())
    if settings.get("rank_pattern") or settings.get("alpha_pattern"):
        raise ValueError(f"safemerge: safety_adapter {directory}: per-module rank_pattern/alpha_pattern is not supported")
    tensors = load_file(str(weights_path))
    found = {}
    for key, lora_a in tensors.items():
        if not key.endswith(".lora_A.weight"):
            continue
        module = plain_name(key[: -len(".lora_A.weight")])
        lora_b = tensors.get(key.replace(".lora_A.weight", ".lora_B.weight"))
        if lora_b is None or lora_a.shape[0] != lora_b.shape[1]:
            raise ValueError(f"safemerge: safety_adapter {directory}: A and B of {module} do not pair up")
        rank = lora_a.shape[0]
        # peft's scale: alpha / r, or alpha / sqrt(r) with rank-stabilised LoRA
        scale = settings["lora_alpha"] / (math.sqrt(rank) if settings.get("use_rslora") else rank)
        found[module] = (lora_a, lora_b, float(scale))
    if not found:
        raise ValueError(f"safemerge: safety_adapter {directory} holds no LoRA A/B weights")
    return found


def _factors(model, adapter: str | None) -> dict[str, tuple[Any, Any, float]]:
    """(A, B, scale) of `adapter` (None: the active one) in every LoRA layer of a peft model, shapes checked."""
    found = {}
    for name, module in model.named_modules():
        if not (hasattr(module, "lora_A") and hasattr(module, "lora_B") and hasattr(module, "scaling")):
            continue
        names = [adapter] if adapter is not None else list(module.active_adapters)
        for key in names:
            if key not in module.lora_A:
                continue
            lora_a, lora_b = module.lora_A[key].weight, module.lora_B[key].weight
            if lora_a.shape[0] != lora_b.shape[1]:
                raise ValueError(f"safemerge: LoRA rank mismatch in {name}: A is {tuple(lora_a.shape)}, B is {tuple(lora_b.shape)}")
            found[name] = (lora_a, lora_b, float(module.scaling[key]))
    if not found:
        raise ValueError("safemerge works on LoRA adapters, and the model has none (full fine-tuning?)")
    return found
