"""The seams between the pipeline and the methods: what a defense or an attack module declares, in one place.

A defense module ends its top part (above the `# DEFENSE LOGIC` banner, readable without torch) with

    METHOD = MethodSpec(stage="alignment", config=Config, needs=("alignment_data",), check=check_config,
                        trainer="Trainer")

and the pipeline reads only that object: which stage the method replaces, what it needs from the run, how the
fine-tuning LoRA is set up, which Trainer or post-processing function to call, which data it adds to the user's
job, and which prompt template it trains and evaluates with. `trainer` and `post_process` are names of attributes
of the module (resolved when the stage runs), so the top of the file never imports torch.

An attack module declares `ATTACK = AttackSpec(config=Config, build=build_rows, needs=(...))`: how the user's
fine-tuning data is made from the run's harmful and benign rows (site/reference/protocol.md, 'Attacks'), and optionally
`query_template=`: the prompt its harmful questions are asked with at evaluation (`attack_query_template`).

What the pipeline (reference_impl/pipeline/) does with each field:
* `stage` + `trainer`: the named `HFTTrainer` subclass replaces plain SFT at that stage ("alignment" or
  "fine_tuning"); the other stage stays plain SFT. `stage="post_fine_tuning"` + `post_process`: the named function
  runs on the fine-tuned model (aligned base + fine-tuning LoRA, as a peft model); its result is saved merged.
* `needs` (NEED_KEYS): checked before any training; a model need the run cannot give (`aligned_model` or
  `safety_adapter` when the method skips alignment) is a one-line ConfigError. A post-processing function gets
  every NEED_KEYS key in its `context` mapping, None for what it did not declare, so the 7B models load only when
  declared: `base_model` and `unaligned_model` are the run's base model (the weights before alignment; one shared
  object when both are declared: do not modify it in place), `aligned_model` is the base with the alignment LoRA
  merged, `safety_adapter` is the directory of the alignment LoRA (`models.load_lora(base, path)` reads it),
  `alignment_data` / `harmful_data` are the run's rows. `context` also holds `tokenizer`, `max_length`,
  `trailing_newline` and `template` (the method's train template). The method's `check` sees the same keys
  with a description (or None) in place of each model, before anything is loaded.
  A fine-tuning-stage Trainer that needs the aligned model as a reference can use `model.disable_adapter()` (peft)
  under `finetune_lora="new"`: the adapter's base IS the merged aligned model.
* `finetune_lora`: "continue" fine-tunes the alignment LoRA itself instead of merging it and adding a new one.
* `finetune_data(user_rows, run_data, config)`: the rows actually fine-tuned on (run_data: `pipeline.data.RunData`).
* `train_template` tokenises every row of the fine-tuning stage; `eval_template` (else `train_template`) builds
  every evaluation prompt. Either may be a function of the method's Config (`config -> PromptTemplate`), for a
  template that depends on a setting (BackdoorAlign's trigger, PTST's test-time system prompt); `templates(spec,
  config)` resolves both, once, in `pipeline.prepare`. Alignment always uses the plain Alpaca template (the
  provider's own alignment).
* `aligned=False`: skip alignment, fine-tune the base model directly (the `non_aligned` baseline).

An attack's `build(harmful_rows, benign_rows, finetune_section, config, context)` receives as `context` a mapping
with `task` (the task name), `harmful_start` / `harmful_bounds` (the window of the harmful file to draw from),
`seed` and `data` (the RunData); it raises ValueError with a one-line message when the data cannot make its rows.
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
    instruction ..." header when None); `system_prefix` is glued in front of that line, whichever it is (a secret
    trigger in the system prompt, BackdoorAlign); `prefix` goes before the instruction."""

    system: str | None = None
    prefix: str = ""
    system_prefix: str = ""


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
    #: fine-tuning prompts; a PromptTemplate or a function config -> PromptTemplate
    train_template: PromptTemplate | Callable[[Any], PromptTemplate] = field(default_factory=PromptTemplate)
    #: evaluation prompts (likewise); None = the same as train_template
    eval_template: PromptTemplate | Callable[[Any], PromptTemplate] | None = None
    aligned: bool = True  # False: no alignment stage, the base model is fine-tuned directly (non_aligned baseline)
    #: The most time `make bench` allows the method against plain SFT: its optimizer step (training-time methods) or
    #: its fine-tuning epoch (data-level ones), set from the passes it makes (site/reference/protocol.md, 'Overhead
    #: targets'); None: measured, no target. Declared here only: the bench reads it from the registry's methods.
    overhead: float | None = None
    #: Bump when the method's computation changes for unchanged settings (a fidelity fix), so that its cached
    #: stages are retrained instead of reused; it enters the stage hash only from 2 on, so older hashes stay.
    version: int = 1


def templates(spec: MethodSpec, config: Any) -> tuple[PromptTemplate, PromptTemplate]:
    """(train template, evaluation template) of a method under its Config: a function is called with the Config,
    a missing evaluation template is the training one."""
    def resolve(template):
        template = template(config) if callable(template) else template
        if not isinstance(template, PromptTemplate):
            raise ValueError(f"a method template must be a PromptTemplate, got {type(template).__name__}")
        return template

    train = resolve(spec.train_template)
    return train, train if spec.eval_template is None else resolve(spec.eval_template)


@dataclass(frozen=True)
class AttackSpec:
    """How an attack builds the user's fine-tuning data (site/reference/protocol.md, 'Attacks')."""

    config: type  # the frozen Config dataclass with the paper's defaults
    #: (harmful_rows, benign_rows, finetune_section, config, context) -> the user's rows, each with a bool "harmful"
    build: Callable[..., list[dict]]
    needs: tuple[str, ...] = ()  # e.g. ("harmful_data",), ("guardrail",)
    check: Callable[[Any, Mapping[str, Any]], None] | None = None
    #: The prompt the attacker sends its harmful queries with at evaluation (identity shift's AOA persona, pure
    #: bad's system prompt), or a function of the attack's Config returning it; None: the provider's prompt only.
    #: `attack_query_template` combines it with the method's evaluation template.
    query_template: PromptTemplate | Callable[[Any], PromptTemplate] | None = None


#: Attack Config fields that change only how the model is asked at evaluation, not the rows it is fine-tuned on:
#: left out of the fine-tuning stage's hash, so turning one off reuses the trained adapter.
EVALUATION_ONLY_FIELDS = ("query_prompt",)


def attack_query_template(method_eval: PromptTemplate, spec: AttackSpec, config: Any) -> PromptTemplate | None:
    """The template of the harmful evaluation prompts under an attack that queries with its own prompt; None when
    the attack declares none (every prompt then uses the method's evaluation template).

    The user writes the system line and the instruction; the provider's serving template wraps them. So the
    provider's (method's) choices win where it makes one: a PTST-style safety system prompt replaces the
    attacker's system line (PTST's premise: the provider fixes the test-time system prompt), a BackdoorAlign
    trigger is glued in front of whichever system line is served (its paper serves trigger + the pure-bad
    system prompt), and a provider prefix goes outside the attacker's. Only the harmful prompts use it: the task
    prompts (FA) are the provider's benchmark, asked in the method's template.
    """
    attacker = spec.query_template(config) if callable(spec.query_template) else spec.query_template
    if attacker is None:  # none declared, or the attack's Config turns it off (query_prompt: false)
        return None
    if not isinstance(attacker, PromptTemplate):
        raise ValueError(f"an attack's query template must be a PromptTemplate, got {type(attacker).__name__}")
    return PromptTemplate(
        system=method_eval.system if method_eval.system is not None else attacker.system,
        prefix=method_eval.prefix + attacker.prefix,
        system_prefix=method_eval.system_prefix + attacker.system_prefix,
    )
