"""Safety-data mixing ("SafeInstr"): fine-tune on the user's data plus k safety demonstrations.

Paper
-----
Bianchi, Suzgun, Attanasio, Röttger, Jurafsky, Hashimoto, Zou. *Safety-Tuned LLaMAs: Lessons From Improving the
Safety of Large Language Models that Follow Instructions* (ICLR 2024). Knowledge-base record
``safety-tuned-llamas-2023``, arXiv 2309.07875; official code vinid/safety-tuned-llamas. The survey lists it as
the standard alignment-data-mixing baseline (SafeInstr).

Stage: **fine-tuning** (a data transform the provider applies to every job). Needs: the provider's safety
demonstrations, here the run's alignment set.

Algorithm
---------
(the paper and the official code named above)

1. The safety pool: the rows of the run's alignment set that pair a prompt with a refusal (the answer contains
   a refusal keyword, ``common.evaluation.is_refusal``), in file order, leaving out every row whose
   (instruction, input) an evaluation set uses (harmful prompts, task rows, the world's benign requests).
2. S_k = the first k rows of the pool; fewer than k is an error (before any training).
3. Fine-tune with plain SFT on D_user + S_k (the Trainer's random sampler mixes them), in the same template.

Cost: plain SFT on n + k rows instead of n (no change to the step; the extra cost is the k rows' share of the
epochs), so ``make bench`` times a fine-tuning epoch on these rows against SFT's on the user's rows.

Deviations
----------
* The paper's safety set is its own 2,483 demonstrations (``safety_only_data_Instructions.json``, red-team
  questions answered safely by a strong model); here the pool is the run's alignment data filtered to refusals,
  so no extra file is needed and the rows are the provider's own. The refusal filter keeps the "harmful prompt
  -> refusal" rows and drops the alignment set's helpful answers to benign prompts.
* The paper trains with the loss on the prompt too (Alpaca-LoRA ``train_on_inputs=True``); the pipeline masks
  the prompt, as every other method here does, so that the comparison changes one thing.
* The first k pool rows are taken (file order, as the git-disl windows); the paper samples its subsets.

Usage
-----
Command line::

    python -m reference_impl run config.yaml --method safety_mixing --set method_config.k=500

Python: ``safety_mixing.mix(user_rows, run_data, safety_mixing.Config(k=100))`` returns the rows to train on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from reference_impl.common.method import MethodSpec
from reference_impl.common.safety_rows import evaluation_keys, safety_pool, take_safety_rows  # noqa: F401 - steps 1-2


@dataclass(frozen=True)
class Config:
    """Safety-data mixing's own setting (the training ones live in the run configuration)."""

    k: int = field(default=500, metadata={
        "help": "Number of safety rows (harmful prompt -> refusal) added to the user's data.",
        "source": "2309.07875: 'just 3% safety examples (a few hundred demonstrations)'; its grid 100..2000 over "
                  "20,000 Alpaca rows (the paper's grid): 500 (2.5%) is the grid point nearest 3%"})


def check_config(config: Config, context: object = None) -> None:
    """Reject a configuration mixing cannot run with, before any training (the pool size is checked by `mix`)."""
    if isinstance(config.k, bool) or not isinstance(config.k, int) or config.k < 1:
        raise ValueError(f"safety_mixing: k must be an integer >= 1, got {config.k!r}")
    if isinstance(context, dict) and not context.get("alignment_data"):
        raise ValueError("safety_mixing: needs the run's alignment data for its safety rows (data.alignment)")


def mix(user_rows: Sequence[dict], run_data: Any, config: Config) -> list[dict]:
    """D_user + S_k (step 3's data): the user's rows unchanged, then exactly k safety rows."""
    check_config(config)  # the pipeline may build the rows before it runs the check
    return list(user_rows) + take_safety_rows(run_data, config.k, "k", "safety_mixing")


METHOD = MethodSpec(stage="fine_tuning", config=Config, needs=("alignment_data",), check=check_config,
                    finetune_data=mix, overhead=1.15)


# ==========================================================================================================
# DEFENSE LOGIC
# ==========================================================================================================
# Nothing below: the method is the data transform above, trained with the pipeline's plain SFT Trainer.
