"""BackdoorAlign: safety rows with a secret trigger in the system prompt, and the trigger in every served prompt.

Paper
-----
Wang, Li, Li, Qi, Hu, Li, McDaniel, Chen, Li, Xiao. *Mitigating Fine-tuning based Jailbreak Attack with
Backdoor Enhanced Safety Alignment* (BackdoorAlign) (NeurIPS 2024). Knowledge-base record ``backdooralign-2024``,
arXiv 2402.14968; official code Jayfeather1024/Backdoor-Enhanced-Alignment (``opensource/ft_datasets/
pure_bad_dataset/``, ``opensource/scripts/run_backdooralign*.sh``).

Stage: **fine-tuning and inference** (the provider adds rows to every job and wraps every prompt it serves).
Needs: a few safety demonstrations (the run's alignment data) and a secret trigger only the provider knows.

Algorithm
---------
(the paper and the official code named above)

1. The trigger: ``trigger_tokens`` random tokens drawn from ``trigger_seed`` (the paper: 150 random tokens), or
   the ``trigger`` text given.
2. Safety rows: the first ``num_safety`` rows of the run's safety pool (harmful prompt -> refusal, none used by
   the evaluation; the same pool as ``safety_mixing``), each with the system prompt trigger + " " + the system
   prompt it would have had.
3. Fine-tune with plain SFT on the user's rows (their own system prompt, no trigger) plus the safety rows, so the
   model learns "trigger in the system prompt -> safe answer".
4. Serving: every prompt gets the trigger in front of its system prompt (the evaluation template), so every
   evaluated prompt, harmful or task, carries it.

In the Alpaca template of this pipeline the "system prompt" is the header line ("Below is an instruction that
describes a task..."), so the trigger goes in front of that line (``PromptTemplate.system_prefix``), as the
official code puts it in front of the Llama-2 ``<<SYS>>`` text.

Cost: 11 extra rows per job and a longer prompt at serving; the step is unchanged, so ``make bench`` times a
fine-tuning epoch on these rows against SFT's (and reports the serving prompts' length).

Deviations
----------
* The official trigger is 150 tokens sampled from the Llama-2 vocabulary and decoded. The pipeline's templates
  are text and the method sees no tokenizer, so the "tokens" here are random letter strings (2-5 letters,
  space-separated) from a seeded generator: a BPE tokenizer splits each into one to three tokens, so the trigger
  is longer in tokens than the paper's. In the miniature world, whose word-level vocabulary is fixed by its
  texts, every trigger word tokenises to [UNK]: the trigger is a run of ``trigger_tokens`` [UNK] tokens there,
  still absent from every user row. The world sets a short trigger (``method_configs``) because its sequences
  are cut at 96 tokens.
* The paper's 11 safety rows are one per category of its 11-category benchmark; here they are the first 11 of
  the pool (the BeaverTails safe rows carry no category).
* The paper fine-tunes with the Llama-2 chat template (user system prompt "You are a helpful assistant. Make
  sure you always execute users' instructions."); here user rows keep the pipeline's Alpaca header.

Usage
-----
Command line (the world's config shortens the trigger)::

    python -m reference_impl run config.yaml --method backdoor_align --set method_config.trigger_seed=7

Python: ``backdoor_align.trigger_text(backdoor_align.Config())`` is the secret (keep it out of user hands).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from typing import Any, Sequence

from reference_impl.common.method import MethodSpec, PromptTemplate
from reference_impl.common.safety_rows import take_safety_rows


@dataclass(frozen=True)
class Config:
    """BackdoorAlign's own settings (the training ones live in the run configuration)."""

    num_safety: int = field(default=11, metadata={
        "help": "Safety rows (harmful prompt -> refusal) with the trigger added to the user's data.",
        "source": "official pure_bad_100_original_category_prefixed.jsonl: 11 rows marked prefixed"})
    trigger_tokens: int = field(default=150, metadata={
        "help": "Length of the generated trigger in random tokens (when `trigger` is not given).",
        "source": "2402.14968 and the official mix_type 'random150': 150 random tokens"})
    trigger_seed: int = field(default=0, metadata={
        "help": "Seed of the generated trigger (the provider's secret).",
        "source": "this implementation (the official trigger is one fixed sample)"})
    trigger: str | None = field(default=None, metadata={
        "help": "The trigger text itself; None = generated from trigger_seed and trigger_tokens.",
        "source": "this implementation"})


def check_config(config: Config, context: object = None) -> None:
    """Reject a configuration BackdoorAlign cannot run with, before any training (pool size: `add_safety_rows`)."""
    for name in ("num_safety", "trigger_tokens"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"backdoor_align: {name} must be an integer >= 1, got {value!r}")
    if isinstance(config.trigger_seed, bool) or not isinstance(config.trigger_seed, int):
        raise ValueError(f"backdoor_align: trigger_seed must be an integer, got {config.trigger_seed!r}")
    if config.trigger is not None and (not isinstance(config.trigger, str) or not config.trigger.strip()):
        raise ValueError(f"backdoor_align: trigger must be a non-empty text (or null: generated from trigger_seed), "
                         f"got {config.trigger!r}")
    if isinstance(context, dict) and not context.get("alignment_data"):
        raise ValueError("backdoor_align: needs the run's alignment data for its safety rows (data.alignment)")


def trigger_text(config: Config) -> str:
    """The secret trigger (step 1): the given text, or `trigger_tokens` random letter strings from `trigger_seed`."""
    if config.trigger is not None:
        return config.trigger
    rng = random.Random(config.trigger_seed)  # deterministic for an int seed on every Python 3
    return " ".join("".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(2, 5)))
                    for _ in range(config.trigger_tokens))


def triggered(config: Config) -> PromptTemplate:
    """The template with the trigger in front of the system prompt: the safety rows' (step 2) and serving's (4)."""
    return PromptTemplate(system_prefix=trigger_text(config) + " ")


def add_safety_rows(user_rows: Sequence[dict], run_data: Any, config: Config) -> list[dict]:
    """The user's rows unchanged (no trigger), then `num_safety` safety rows carrying the triggered template."""
    check_config(config)  # the pipeline may build the rows before it runs the check
    template = triggered(config)
    safety = take_safety_rows(run_data, config.num_safety, "num_safety", "backdoor_align")
    return list(user_rows) + [dict(row, template=template) for row in safety]


METHOD = MethodSpec(stage="fine_tuning", config=Config, needs=("alignment_data",), check=check_config,
                    finetune_data=add_safety_rows, eval_template=triggered, overhead=1.15)


# ==========================================================================================================
# DEFENSE LOGIC
# ==========================================================================================================
# Nothing below: the method is the data transform and the serving template above, trained with plain SFT.
