"""Benign-only fine-tuning: the user's data holds no harmful row at all, and safety still erodes.

Paper: fine-tuning-aligned-language-2023 (Qi et al., arXiv 2310.03693, risk level 3: Alpaca, Dolly, LLaVA-Instruct)
and the "clean" p = 0 setting of every git-disl defense paper (site/reference/protocol.md, 'Attacks'; the BFA baseline of Virus,
Table 5).

Algorithm:
1. Take the first `finetune.num_samples` rows of the run's benign task data (SST2 in the miniature world), in file
   order, the same rows the mixture attack would take at p = 0.
2. Mark every row `harmful=False`; no row of the harmful source enters (a test checks no instruction of the
   harmful pool appears).

Deviations: none of the paper's data sets (Alpaca / Dolly with safety rows removed) is used: the benign data is the
run's task data, so the attack equals the mixture at p = 0 with `finetune.harmful_ratio` ignored.

Usage:
    python -m reference_impl run reference_impl/configs/miniature_world.yaml --set finetune.attack=benign
"""

from __future__ import annotations

from dataclasses import dataclass

from ..common.method import AttackSpec


@dataclass(frozen=True)
class Config:
    """No fields: n is `finetune.num_samples`."""


def build_rows(harmful, benign, finetune: dict, config: Config, context) -> list[dict]:
    n = finetune["num_samples"]
    if n > len(benign):
        raise ValueError(f"benign fine-tuning needs {n} {context['task']} rows, the task data has {len(benign)}")
    return [dict(row, harmful=False) for row in benign[:n]]


ATTACK = AttackSpec(config=Config, build=build_rows)
