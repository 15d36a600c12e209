"""Baselines: plain SFT everywhere, and fine-tuning without any alignment.

Registered as two methods (`reference_impl/registry.py`), both served by this module:
* `sft`: align the base model with LoRA SFT on the alignment set, merge, fine-tune a new LoRA with plain SFT on
  the user's mixture (site/reference/protocol.md, 'Pipeline' and 'Attacks': the attack every defense is scored against).
* `non_aligned`: skip alignment and fine-tune the base model directly (`NON_ALIGNED`, a MethodSpec with
  `aligned=False`; its registry line names it with `spec="NON_ALIGNED"`); it shows what the model does with no
  safety training at all.

Usage:
    python -m reference_impl run reference_impl/configs/miniature_world.yaml --method sft
    python -m reference_impl run reference_impl/configs/miniature_world.yaml --method non_aligned
"""

from __future__ import annotations

from dataclasses import dataclass

from .common.method import MethodSpec


@dataclass(frozen=True)
class Config:
    """The baselines have no hyper-parameters of their own: the `alignment` and `finetune` sections hold them."""


def check_config(config: Config, context) -> None:
    """Nothing to check: the pipeline verifies that the alignment set is not empty for `sft`."""


#: `sft`: the alignment stage trains with `Trainer` below, which is plain SFT (an unchanged HFTTrainer).
METHOD = MethodSpec(stage="alignment", config=Config, needs=("alignment_data",), check=check_config, trainer="Trainer")
#: `non_aligned`: no alignment at all; fine-tuning is plain SFT on the base model.
NON_ALIGNED = MethodSpec(stage="alignment", config=Config, check=check_config, aligned=False)


# =========================================================================================================
# DEFENSE LOGIC
# =========================================================================================================

from .common.harness import HFTTrainer  # noqa: E402  (below the banner: the part above reads without torch)


class Trainer(HFTTrainer):
    """Plain SFT: `HFTTrainer.defense_step` is one forward and one backward pass on the batch."""
