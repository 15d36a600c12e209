"""Preparation: every check that can run before any training, and the `Plan` the stages execute.

`prepare(config)` loads the method's `MethodSpec` and the attack's `AttackSpec`, builds both Configs (paper
defaults + overrides, field names checked), checks the model paths, loads the data, checks the method's needs,
and builds the user's fine-tuning rows (the attack's, then the method's `finetune_data`). Every problem is a
one-line ConfigError.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any

from pathlib import Path

from .. import registry
from ..attacks import load_attack
from ..common.config import ConfigError, where
from ..common.method import NEED_KEYS, AttackSpec, MethodSpec, PromptTemplate, attack_query_template, templates
from ..common.schedule import schedule_context
from ..common.errors import PipelineError  # noqa: F401 - raised by the stages and by methods (common/errors.py)
from ..testbeds import RunData, Testbed, testbed_for


@dataclass
class Plan:
    config: dict
    method: Any  # registry.Method
    spec: MethodSpec
    module: Any  # the method's module, where `spec.trainer` / `spec.post_process` are looked up
    method_config: Any
    attack: AttackSpec
    attack_config: Any
    data: RunData
    mixture: list[dict]  # the rows the user's fine-tuning trains on
    train_template: PromptTemplate = PromptTemplate()  # the method's templates under its Config
    eval_template: PromptTemplate = PromptTemplate()
    #: The harmful evaluation prompts' template when the attack queries with its own prompt (AttackSpec.query_template
    #: combined with eval_template); None: the harmful prompts use eval_template too.
    query_template: PromptTemplate | None = None
    attack_context: dict = field(default_factory=dict)  # what the attack's check/build read (cache, guardrail, ...)
    testbed: Testbed | None = None  # where the data, base model and judge come from (testbeds/base.py)

    def stage_trainer(self, stage: str):
        """The method's Trainer class when it replaces plain SFT at `stage`, else None."""
        if self.spec.stage != stage or self.spec.trainer is None:
            return None
        return getattr(self.module, self.spec.trainer)

    def post_function(self):
        if self.spec.stage != "post_fine_tuning" or self.spec.post_process is None:
            return None
        return getattr(self.module, self.spec.post_process)


def load_method(name: str):
    """(registry entry, module, MethodSpec) of a registered method."""
    if name not in registry.METHODS:
        raise ConfigError(f"unknown method {name!r} (registered: {', '.join(registry.METHODS)})")
    method = registry.METHODS[name]
    try:
        module = importlib.import_module(method.module)
    except ImportError as error:
        raise ConfigError(f"method {name!r}: cannot import {method.module}: {error}") from None
    spec = getattr(module, method.spec, None)
    if not isinstance(spec, MethodSpec):
        raise ConfigError(f"method {name!r}: {method.module} declares no `{method.spec} = MethodSpec(...)`")
    for field_name in ("trainer", "post_process"):
        attribute = getattr(spec, field_name)
        if attribute is not None and not callable(getattr(module, attribute, None)):
            raise ConfigError(f"method {name!r}: {method.module} has no {attribute!r} (its MethodSpec {field_name})")
    if (spec.post_process is not None) != (spec.stage == "post_fine_tuning"):
        raise ConfigError(f"method {name!r}: post_process goes with stage 'post_fine_tuning' and only with it")
    unknown = sorted(set(spec.needs) - set(NEED_KEYS))
    if unknown:
        raise ConfigError(f"method {name!r}: unknown need(s) {', '.join(unknown)} (known: {', '.join(NEED_KEYS)})")
    return method, module, spec


def build_config(config_cls: type, overrides: dict, section: str, name: str):
    """The frozen Config with the paper defaults, updated by `overrides` (field names checked)."""
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"{section}: unknown field(s) for {name}: {', '.join(unknown)} (known: {', '.join(sorted(known)) or 'none'})")
    try:
        return dataclasses.replace(config_cls(), **overrides)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{section} for {name}: {error}") from None


def availability(data: RunData, config: dict, spec: MethodSpec) -> dict:
    """What the run can give a method (NEED_KEYS; taxonomy/needs.yaml), read by its `check`; models are described
    (not loaded), None where the run has none."""
    aligned = "the aligned model" if spec.aligned else None
    return {
        "alignment_data": data.alignment,
        "harmful_data": data.defender_harmful,
        "base_model": config["model"]["base"],
        "aligned_model": aligned,
        "safety_adapter": "the alignment LoRA" if spec.aligned else None,
        "unaligned_model": config["model"]["base"],
    }


#: What an attack may declare in `AttackSpec.needs`, checked before training (data.harmful rows, a guardrail judge).
ATTACK_NEEDS = ("harmful_data", "guardrail")


def check_attack_needs(config: dict, data: RunData | None, name: str, needs, testbed: Testbed) -> None:
    """An attack whose data the run does not provide, or whose guardrail model is missing: one line naming the
    config key's file and line. `data=None`: the checks that need no data (the guardrail) only."""
    unknown = sorted(set(needs) - set(ATTACK_NEEDS))
    if unknown:
        raise ConfigError(f"attack {name!r}: unknown need(s) {', '.join(unknown)} (known: {', '.join(ATTACK_NEEDS)})")
    if "harmful_data" in needs and data is not None and not data.user_harmful:
        raise ConfigError(f"{where(config, ('data', 'harmful'))}: finetune.attack {name} needs harmful rows; "
                          "data.harmful gives none")
    if "guardrail" in needs and data is None:
        testbed.check_guardrail(config, name)


def guardrail_loader(config: dict, data: RunData, threshold: float, testbed: Testbed | None = None):
    """The guardrail an attack filters or optimises against: the testbed's judge."""
    return lambda: (testbed or testbed_for(config)).judge(config, data, threshold)


def base_model_loader(config: dict, data: RunData, cache_dir: Path, log, testbed: Testbed | None = None):
    """(model, tokenizer) of the run's base model, for an attack that optimises its rows against it (Virus); the
    world's base model comes from the same cache as the run's stages."""
    return lambda: (testbed or testbed_for(config)).load_base(config, data, Path(cache_dir), log)


def prepare(config: dict, cache_dir: str | Path | None = None, log=print) -> Plan:
    """`cache_dir`: where the world's base model and an attack's optimised rows are cached (the run directory's
    `cache/`; `runs/cache` when no run directory is given)."""
    method, module, spec = load_method(config["method"])
    overrides = {**config["method_configs"].get(method.name, {}), **config["method_config"]}
    method_config = build_config(spec.config, overrides, "method_config", method.name)
    ft = config["finetune"]
    try:
        _, attack = load_attack(ft["attack"])
    except ValueError as error:
        raise ConfigError(f"finetune.attack: {error}") from None
    attack_config = build_config(attack.config, ft["attack_config"], "finetune.attack_config", ft["attack"])
    testbed = testbed_for(config)
    check_attack_needs(config, None, ft["attack"], attack.needs, testbed)  # the guardrail, before models and data load
    testbed.check(config)
    data = testbed.load_data(config)
    check_attack_needs(config, data, ft["attack"], attack.needs, testbed)
    if spec.aligned and not data.alignment:
        raise ConfigError("data.alignment: the alignment set is empty")
    available = availability(data, config, spec)
    missing = [need for need in spec.needs if need in MODEL_NEEDS and available[need] is None]
    if missing:
        raise ConfigError(f"method {method.name} needs {', '.join(missing)}, which this run cannot give (it skips alignment)")
    context = {"task": data.task, "harmful_start": data.harmful_start, "harmful_bounds": data.harmful_bounds,
               "seed": config["seed"], "data": data, "cache_dir": Path(cache_dir or Path("runs") / "cache"),
               "max_length": config["model"]["max_length"], "trailing_newline": config["model"]["trailing_newline"],
               "log": log, "model_identity": testbed.base_identity(config, data)}
    threshold = getattr(attack_config, "threshold", config["evaluation"]["threshold"])
    context["guardrail"] = guardrail_loader(config, data, threshold, testbed)
    context["base_model"] = base_model_loader(config, data, context["cache_dir"], log, testbed)
    plan = Plan(config=config, method=method, spec=spec, module=module, method_config=method_config, attack=attack,
                attack_config=attack_config, data=data, mixture=[], attack_context=context, testbed=testbed)
    # Rows a testbed answers at run time (`Testbed.before_training`; run.py rebuilds the mixture then): only the
    # attack's check runs here, and the schedule is checked against the nominal n (Virus must not optimise rows
    # that have no answer yet).
    pending = any(row["output"] is None for row in data.user_harmful)
    if pending and attack.check is not None:
        try:
            attack.check(attack_config, context)
        except ValueError as error:
            raise ConfigError(f"finetune ({ft['attack']} attack): {error}") from None
    plan.mixture = [] if pending else build_mixture(plan, check=True)
    rows = ft["num_samples"] if pending else len(plan.mixture)
    available.update(schedule_context(config, len(data.alignment), rows))  # Lisa's split vs the run
    try:
        if spec.check is not None:
            spec.check(method_config, available)
        plan.train_template, plan.eval_template = templates(spec, method_config)
    except ValueError as error:
        raise ConfigError(f"method {method.name}: {error}") from None
    try:
        plan.query_template = attack_query_template(plan.eval_template, attack, attack_config)
    except ValueError as error:
        raise ConfigError(f"finetune ({ft['attack']} attack): {error}") from None
    return plan


def build_mixture(plan: Plan, check: bool = False) -> list[dict]:
    """The user's fine-tuning rows: the attack builds them, then the method may add its own (finetune_data).
    Called again after a testbed fills in answers at run time (`Testbed.before_training`)."""
    data, ft, context = plan.data, plan.config["finetune"], plan.attack_context
    try:
        if check and plan.attack.check is not None:
            plan.attack.check(plan.attack_config, context)
        mixture = plan.attack.build(data.user_harmful, data.task_train, ft, plan.attack_config, context)
    except ValueError as error:
        raise ConfigError(f"finetune ({ft['attack']} attack): {error}") from None
    try:
        if plan.spec.finetune_data is not None:
            mixture = plan.spec.finetune_data(mixture, data, plan.method_config)
    except ValueError as error:
        raise ConfigError(f"method {plan.method.name}: {error}") from None
    return mixture


#: Needs that name a model (or adapter) the run may lack; the data needs are the method's `check` to judge (a
#: method may do without one in some setting, e.g. Antidote's magnitude score needs no harmful data).
MODEL_NEEDS = ("base_model", "aligned_model", "safety_adapter", "unaligned_model")
