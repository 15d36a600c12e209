"""The seams between the pipeline and the methods: what a defense or an attack module declares, in one place.

A defense module ends its top part (above the `# DEFENSE LOGIC` banner, readable without torch) with

    METHOD = MethodSpec(stage="alignment", config=Config, needs=("alignment_data",), check=check_config,
                        trainer="Trainer")

and the pipeline reads only that object: which stage the method replaces, what it needs from the run, how the
fine-tuning LoRA is set up, which Trainer or post-processing function to call, which data it adds to the user's
job, and which prompt template it trains and evaluates with. `trainer` and `post_process` are names of attributes
of the module (resolved when the stage runs), so the top of the file never imports torch.

An attack module declares `ATTACK = AttackSpec(config=Config, build=build_rows, needs=(...))`: how the user's
fine-tuning data is made from the run's harmful and benign rows (DEFENSES.md 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Sequence

Stage = Literal["alignment", "fine_tuning", "post_fine_tuning"]
LoraMode = Literal["new", "continue"]

#: What a run can give a method (taxonomy/needs.yaml keys): the pipeline checks them before any training.
NEED_KEYS = ("alignment_data", "harmful_data", "base_model", "aligned_model", "safety_adapter", "unaligned_model")


@dataclass(frozen=True)
class PromptTemplate:
    """How one row becomes a prompt. `system` is the line above the instruction (Alpaca's "Below is an
    instruction ..." header when None); `prefix` goes before the instruction (e.g. a secret trigger)."""

    system: str | None = None
    prefix: str = ""


@dataclass(frozen=True)
class MethodSpec:
    """What the pipeline needs to know about a defense (or baseline)."""

    stage: Stage  # the stage whose plain-SFT step the method replaces (baselines: "alignment")
    config: type  # the frozen Config dataclass; its defaults are the paper's
    needs: tuple[str, ...] = ()  # NEED_KEYS the method reads
    check: Callable[[Any, Mapping[str, Any]], None] | None = None  # raises ValueError with a one-line message
    trainer: str | None = None  # attribute name of the HFTTrainer subclass replacing SFT at `stage`
    post_process: str | None = None  # attribute name of `apply(model, tokenizer, *, config, data, context) -> model`
    finetune_lora: LoraMode = "new"  # "continue": fine-tune the alignment LoRA itself (Booster, Vaccine's repo)
    #: (user_rows, run_data, config) -> rows actually trained on (safety-data mixing, BackdoorAlign); None = unchanged
    finetune_data: Callable[[Sequence[dict], Any, Any], list[dict]] | None = None
    train_template: PromptTemplate = field(default_factory=PromptTemplate)  # fine-tuning prompts
    eval_template: PromptTemplate | None = None  # evaluation prompts; None = the same as train_template


@dataclass(frozen=True)
class AttackSpec:
    """How an attack builds the user's fine-tuning data (DEFENSES.md 2.1-2.3)."""

    config: type  # the frozen Config dataclass with the paper's defaults
    #: (harmful_rows, benign_rows, finetune_section, config, context) -> the user's rows, each with a bool "harmful"
    build: Callable[..., list[dict]]
    needs: tuple[str, ...] = ()  # e.g. ("harmful_data",), ("guardrail",)
    check: Callable[[Any, Mapping[str, Any]], None] | None = None
