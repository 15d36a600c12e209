"""The p*n harmful mixture: the user's fine-tuning set is p*n harmful rows and (1-p)*n benign task rows.

Paper: the attack every git-disl defense is scored against (Vaccine, Lisa, Booster, Antidote; site/reference/protocol.md, 'Attacks').

Algorithm:
1. poison_num = int(p * n), normal_num = int((1 - p) * n), with p = `finetune.harmful_ratio` and
   n = `finetune.num_samples` (computed as the repositories do, so p*n + (1-p)*n can be n - 1).
2. Take poison_num harmful rows in file order from the harmful window's start (`data.harmful.start`; Booster and
   Antidote exclude both ends of the window, `bounds: exclusive`), then the first normal_num task rows.
3. Harmful rows come first; the Trainer's random sampler shuffles them.

Deviations: none.

Usage:
    python -m reference_impl run reference_impl/configs/miniature_world.yaml --set finetune.harmful_ratio=0.2
"""

from __future__ import annotations

from dataclasses import dataclass

from ..common.data import mixture_counts, user_mixture
from ..common.method import AttackSpec


@dataclass(frozen=True)
class Config:
    """No fields of its own: p and n are `finetune.harmful_ratio` and `finetune.num_samples`, read by every
    defense's results table."""


def build_rows(harmful, benign, finetune: dict, config: Config, context) -> list[dict]:
    poison_num, normal_num = mixture_counts(finetune["harmful_ratio"], finetune["num_samples"])
    start = context["harmful_start"]
    if poison_num and start + poison_num > len(harmful):
        raise ValueError(f"the mixture needs {poison_num} harmful rows (from index {start}), the harmful data has {len(harmful)}")
    if normal_num > len(benign):
        raise ValueError(f"the mixture needs {normal_num} {context['task']} rows, the task data has {len(benign)}")
    return user_mixture(harmful, benign, harmful_ratio=finetune["harmful_ratio"], num_samples=finetune["num_samples"],
                        harmful_start=start, bounds=context["harmful_bounds"])


ATTACK = AttackSpec(config=Config, build=build_rows)
