"""The pipeline: align -> fine-tune on the user's mixture -> post-process -> evaluate (DEFENSES.md 1.1, 2.1).

`prepare(config)` checks everything that can be checked without training (method, method config, data files and
counts, model paths) and returns a `Plan`; `execute(plan, out_dir)` runs the stages. Each stage writes its
artifacts under `out_dir/stages/<stage>-<method>-<hash>/` and a `DONE` file; the hash covers every setting the
stage depends on, so a re-run reuses finished stages (and stages shared between methods, e.g. the SFT alignment
that Lisa, Antidote and Safe LoRA all start from), and an interrupted stage resumes from its last Trainer
checkpoint when `<stage>.save_steps > 0`.

Which method replaces which stage comes from its module (`STAGE`): an alignment-stage defense's `Trainer` replaces
SFT alignment; a fine-tuning-stage defense's `Trainer` replaces SFT fine-tuning; a post-fine-tuning defense's
`apply(model, tokenizer, *, config, data, context)` runs on the fine-tuned model (aligned base + fine-tuning LoRA,
as a peft model) and returns a new model, saved merged to its own directory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..registry import METHODS
from .config import ConfigError, is_world, testbed_name
from .schedule import schedule_context
from ..testbeds import smollm2
from .data import (
    DataError,
    TASK_CONVERTERS,
    beavertails_rows,
    load_records,
    mixture_counts,
    refusal_alignment_rows,
    refusal_harmful_rows,
    sample_window,
    user_mixture,
)

NON_ALIGNED = "non_aligned"


class PipelineError(RuntimeError):
    """A run that cannot go on (bad method config, too little data, a NaN loss...): one clear line."""


@dataclass
class RunData:
    task: str
    alignment: list[dict]
    user_harmful: list[dict]
    defender_harmful: list[dict]
    task_train: list[dict]
    eval_harmful: list[dict]
    eval_task: list[dict]
    extra_eval: dict[str, list[dict]] = field(default_factory=dict)
    extra_scorers: dict[str, Callable] = field(default_factory=dict)
    world: Any = None


@dataclass
class Plan:
    config: dict
    method: Any  # registry.Method
    module: Any
    method_config: Any
    data: RunData
    mixture: list[dict]


# ---------------------------------------------------------------------------------------------------------
# Preparation: every check before any training


def method_module(name: str):
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r} (registered: {', '.join(METHODS)})")
    try:
        return METHODS[name], importlib.import_module(METHODS[name].module)
    except ImportError as error:
        raise ConfigError(f"method {name!r}: cannot import {METHODS[name].module}: {error}") from None


def build_method_config(module, overrides: dict, name: str):
    """The method's frozen Config with the paper defaults, updated by `method_config` (field names checked)."""
    config_cls = getattr(module, "Config", None)
    if config_cls is None:
        if overrides:
            raise ConfigError(f"method {name!r} takes no method_config (got: {', '.join(overrides)})")
        return None
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"method_config: unknown field(s) for {name}: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    try:
        return dataclasses.replace(config_cls(), **overrides)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"method_config for {name}: {error}") from None


def load_data(config: dict) -> RunData:
    """The run's datasets: the miniature world's (generated) or the configured real files / hub datasets."""
    if smollm2.handles(config):  # issue 11's testbed: project-written requests, answers filled in at run time
        return smollm2.load_data(config, RunData)
    if is_world(config):
        from . import world as world_mod

        w = world_mod.build(config["world"]["seed"], world_spec(config))
        alignment = w.alignment if config["data"]["alignment"]["flavour"] == "beavertails_safe" else w.defender_alignment
        return RunData(
            task=w.task, alignment=alignment, user_harmful=w.user_harmful, defender_harmful=w.defender_harmful,
            task_train=w.task_train, eval_harmful=w.eval_harmful, eval_task=w.eval_task,
            extra_eval={"benign_answered": w.eval_benign}, extra_scorers={"benign_answered": world_mod.benign_answered},
            world=w,
        )
    d = config["data"]

    def read(section: dict, source_key: str = "source", split_key: str = "split", subset=None):
        try:
            return load_records(section[source_key], split=section.get(split_key), subset=subset)
        except DataError as error:
            raise ConfigError(str(error)) from None

    def convert(rows, flavour, source, purpose):
        if flavour == "beavertails_safe":
            return beavertails_rows(rows, safe=True, source=source)
        if flavour == "beavertails_unsafe":
            return beavertails_rows(rows, safe=False, source=source)
        return refusal_alignment_rows(rows, source=source) if purpose == "alignment" else refusal_harmful_rows(rows, source=source)

    try:
        a, h, dh, t, e = d["alignment"], d["harmful"], d["defender_harmful"], d["task"], d["eval_harmful"]
        alignment = sample_window(convert(read(a), a["flavour"], a["source"], "alignment"), a["start"], a["start"] + a["num"], bounds=a["bounds"])
        user_harmful = convert(read(h), h["flavour"], h["source"], "harmful")
        defender = convert(read(dh), dh["flavour"], dh["source"], "harmful")
        defender = sample_window(defender, dh["start"], dh["start"] + dh["num"], bounds=dh["bounds"]) if dh["num"] else []
        converter = TASK_CONVERTERS[t["name"]]
        task_train = converter(read(t, "train", "train_split", t["subset"]), source=t["train"])
        eval_task = converter(read(t, "eval", "eval_split", t["subset"]), source=t["eval"])[: d["eval_task_num"]]
        eval_harmful = beavertails_rows(read(e), safe=False if e["unsafe_only"] else None, source=e["source"])[: e["num"]]
    except (DataError, ValueError) as error:
        raise ConfigError(str(error)) from None
    return RunData(task=t["name"], alignment=alignment, user_harmful=user_harmful, defender_harmful=defender,
                   task_train=task_train, eval_harmful=eval_harmful, eval_task=eval_task)


def world_spec(config: dict):
    from .models import TinyLlamaSpec
    from .world import WorldSpec

    w = config["world"]
    hidden = w["hidden_size"]
    model = TinyLlamaSpec(hidden_size=hidden, num_layers=w["num_layers"], num_heads=4, intermediate_size=2 * hidden)
    return WorldSpec(seed=w["seed"], version=w["version"], pretrain_steps=w["pretrain_steps"], model=model, max_length=min(96, config["model"]["max_length"]),
                     pretrain_task_words=w["pretrain_task_words"])


def availability(data: RunData, config: dict, method_name: str) -> dict:
    """The context a method's `check_config` reads: what the run can give it (DEFENSES.md NEEDS)."""
    aligned = method_name != NON_ALIGNED
    return {
        "alignment_data": data.alignment,
        "harmful_data": data.defender_harmful,
        "base_model": config["model"]["base"],
        "aligned_model": "aligned" if aligned else None,
    }


def prepare(config: dict) -> Plan:
    from .models import check_model_source

    method, module = method_module(config["method"])
    overrides = {**config["method_configs"].get(method.name, {}), **config["method_config"]}
    method_config = build_method_config(module, overrides, method.name)
    if smollm2.handles(config):
        smollm2.check(config)
    elif not is_world(config):
        for key in ("base", "tokenizer"):
            if config["model"][key]:
                try:
                    check_model_source(config["model"][key])
                except FileNotFoundError as error:
                    raise ConfigError(f"model.{key}: {error}") from None
        moderation = config["evaluation"]["moderation"]
        if moderation == "rules":
            raise ConfigError("evaluation.moderation: 'rules' is the miniature world's judge; give beaver-dam-7b's path or hub id")
        try:
            check_model_source(moderation)
        except FileNotFoundError as error:
            raise ConfigError(f"evaluation.moderation: {error}") from None
    data = load_data(config)
    ft = config["finetune"]
    poison_num, normal_num = mixture_counts(ft["harmful_ratio"], ft["num_samples"])
    start, bounds = config["data"]["harmful"]["start"], config["data"]["harmful"]["bounds"]
    if is_world(config):
        start, bounds = 0, "half_open"
    if poison_num and start + poison_num > len(data.user_harmful):
        raise ConfigError(
            f"finetune: the mixture needs {poison_num} harmful rows (from index {start}), the harmful data has {len(data.user_harmful)}"
        )
    if normal_num > len(data.task_train):
        raise ConfigError(f"finetune: the mixture needs {normal_num} {data.task} rows, the task data has {len(data.task_train)}")
    if method.name != NON_ALIGNED and not data.alignment:
        raise ConfigError("data.alignment: the alignment set is empty")
    mixture = user_mixture(data.user_harmful, data.task_train, harmful_ratio=ft["harmful_ratio"],
                           num_samples=ft["num_samples"], harmful_start=start, bounds=bounds)
    check = getattr(module, "check_config", None)
    if check is not None and method_config is not None:
        try:
            check(method_config, {**availability(data, config, method.name),
                                  **schedule_context(config, len(data.alignment), len(mixture))})
        except ValueError as error:
            raise ConfigError(f"method {method.name}: {error}") from None
    return Plan(config=config, method=method, module=module, method_config=method_config, data=data, mixture=mixture)


# ---------------------------------------------------------------------------------------------------------
# Execution


#: Part of every stage's hash. A stage directory is reused when its settings match, but settings are not code:
#: bump this when a change alters what a stage trains or measures for unchanged settings, so that old run
#: directories are retrained instead of silently mixed with new results.
#: 1 -> 2 (2026-11-23): the LoRA init is seeded after the models are loaded (Runner.seed).
#: 2 -> 3 (2026-12-02): miniature world v2 (disjoint harmful pairs, other pre-training wording; issue 11).
STAGE_VERSION = 3


def fingerprint(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _config_dict(obj) -> dict:
    return dataclasses.asdict(obj) if obj is not None and dataclasses.is_dataclass(obj) else {}


class Runner:
    """Runs one plan's stages under `out_dir`, reusing finished stages."""

    def __init__(self, plan: Plan, out_dir: str | Path, log: Callable[[str], None] = print):
        self.plan = plan
        self.config = plan.config
        self.out = Path(out_dir)
        self.log = log
        self.stages = self.out / "stages"
        self.stages.mkdir(parents=True, exist_ok=True)
        self._tokenizer = None
        self._base_dir: Path | None = None
        self.timings: dict[str, float] = {}

    # -- models ----------------------------------------------------------------------------------------

    def setup_torch(self) -> None:
        import torch

        threads = self.config["model"]["threads"]
        if threads and not torch.cuda.is_available():
            torch.set_num_threads(threads)  # oversubscribed CPUs train >10x slower; see README

    def tokenizer(self):
        if self._tokenizer is None:
            self.load_base()
        return self._tokenizer

    def load_base(self):
        """A fresh copy of the base model (and the shared tokenizer)."""
        from .models import load_model, load_tokenizer, prepare_pad_token

        model_cfg = self.config["model"]
        if is_world(self.config):
            from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

            from .world import base_model

            if self._base_dir is None:
                started = time.time()
                base_model(self.plan.data.world, self.out / "cache", log=self.log)
                self._base_dir = self.out / "cache" / f"world-base-{self.plan.data.world.spec.fingerprint()}"
                self.timings["base"] = round(time.time() - started, 1)
            if self._tokenizer is None:
                self._tokenizer = PreTrainedTokenizerFast.from_pretrained(self._base_dir)
            return LlamaForCausalLM.from_pretrained(self._base_dir)
        if smollm2.handles(self.config):
            model, tokenizer = smollm2.load_base(self.config)
            self._tokenizer = self._tokenizer or tokenizer
            return model
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(model_cfg["tokenizer"] or model_cfg["base"], model_max_length=model_cfg["max_length"])
        model = load_model(model_cfg["base"], dtype=model_cfg["dtype"], device_map=model_cfg["device_map"])
        prepare_pad_token(self._tokenizer, model)
        return model

    def base_identity(self) -> dict:
        if is_world(self.config):
            return {"world": self.plan.data.world.spec.fingerprint(), "stages": STAGE_VERSION}
        return {"base": self.config["model"]["base"], "dtype": self.config["model"]["dtype"], "stages": STAGE_VERSION}

    def seed(self) -> None:
        """Seed every RNG after a stage has loaded its models and right before it adds its LoRA: the LoRA's random
        init must not depend on what ran earlier in the same process (a sweep) nor on whether the world's base
        model was pre-trained just now (a cold cache consumes random numbers) or read from disk; otherwise a
        re-run in a fresh directory would not reproduce a sweep's numbers (it did not, before this ordering)."""
        from transformers import set_seed

        set_seed(self.config["seed"])

    # -- training --------------------------------------------------------------------------------------

    def tokenize(self, rows):
        from .templates import tokenize_rows

        m = self.config["model"]
        return tokenize_rows(self.tokenizer(), rows, max_length=m["max_length"], trailing_newline=m["trailing_newline"])

    def train(self, stage: str, trainer_cls, model, rows, section: dict, directory: Path, defense_config):
        """Train `model` (a peft model) on `rows` with `trainer_cls`; resume from the last checkpoint if any."""
        import torch
        from transformers.trainer_utils import get_last_checkpoint

        from .harness import NonFiniteLossError, training_arguments
        from .templates import Collator

        checkpoints = directory / "checkpoints"
        checkpoints.mkdir(parents=True, exist_ok=True)
        save_steps = section["save_steps"]
        args = training_arguments(
            checkpoints,
            per_device_train_batch_size=section["batch_size"],
            gradient_accumulation_steps=section["gradient_accumulation_steps"],
            learning_rate=section["lr"],
            num_train_epochs=section["epochs"],
            max_steps=section["max_steps"],
            lr_scheduler_type=section["schedule"],
            warmup_ratio=section["warmup_ratio"],
            weight_decay=section["weight_decay"],
            max_grad_norm=section["max_grad_norm"],
            seed=self.config["seed"],
            bf16=self.config["model"]["bf16"],
            use_cpu=not torch.cuda.is_available(),
            save_strategy="steps" if save_steps > 0 else "no",
            save_steps=save_steps if save_steps > 0 else 500,
            logging_steps=10**9,
        )
        extra = {"alignment": self.tokenize(self.plan.data.alignment)}
        if self.plan.data.defender_harmful:
            extra["harmful"] = self.tokenize(self.plan.data.defender_harmful)
        trainer = trainer_cls(
            model=model, args=args, train_dataset=self.tokenize(rows), data_collator=Collator(self.tokenizer().pad_token_id),
            processing_class=self.tokenizer(), extra_datasets=extra, defense_config=defense_config,
        )
        last = get_last_checkpoint(str(checkpoints)) if save_steps > 0 else None
        if last:
            self.log(f"  {stage}: resuming from {last}")
        started = time.time()
        try:
            result = trainer.train(resume_from_checkpoint=last)
        except NonFiniteLossError as error:
            kept = get_last_checkpoint(str(checkpoints)) if save_steps > 0 else None
            where = f"last good checkpoint: {kept}" if kept else f"no checkpoint kept (set {stage}.save_steps > 0 to keep one)"
            raise PipelineError(f"{stage}: {error}; {where}") from None
        except ValueError as error:
            # A defense that finds its setting unusable mid-run (e.g. a schedule too short) raises ValueError:
            # report it in one line like every other bad setting, not as a traceback.
            raise PipelineError(f"{stage} ({trainer_cls.__module__}): {error}") from None
        self.timings[stage] = round(time.time() - started, 1)
        # Trainer.save_model writes the adapter once (rank 0) and gathers sharded weights under FSDP / ZeRO-3.
        trainer.save_model(str(directory / "adapter"))
        trainer.accelerator.wait_for_everyone()
        return {"loss": round(float(result.training_loss), 4), "steps": result.global_step, "seconds": self.timings[stage]}

    # -- stages ----------------------------------------------------------------------------------------

    def stage_dir(self, kind: str, name: str, payload: dict) -> Path:
        return self.stages / f"{kind}-{name}-{fingerprint(payload)}"

    def alignment_stage(self):
        """Returns (payload, directory) of the alignment adapter, or (payload, None) for the non-aligned baseline."""
        from .harness import HFTTrainer
        from .models import add_lora

        plan = self.plan
        if plan.method.name == NON_ALIGNED:
            return {"base": self.base_identity(), "aligned": False}, None
        own = getattr(plan.module, "STAGE", None) == "alignment" and hasattr(plan.module, "Trainer")
        name = plan.method.name if own else "sft"
        payload = {
            "base": self.base_identity(), "method": name, "method_config": _config_dict(plan.method_config) if own else {},
            "train": self.config["alignment"], "data": self.config["data"]["alignment"] if not is_world(self.config) else "world",
            "seed": self.config["seed"], "template": [self.config["model"]["max_length"], self.config["model"]["trailing_newline"]],
        }
        directory = self.stage_dir("align", name, payload)
        if (directory / "DONE").exists():
            self.log(f"alignment ({name}): done already -> {directory}")
            return payload, directory
        self.log(f"alignment ({name}): {len(plan.data.alignment)} rows, LoRA r={self.config['alignment']['lora']['r']}")
        base = self.load_base()
        self.seed()
        model = add_lora(base, lora_settings(self.config["alignment"]["lora"]))
        trainer_cls = plan.module.Trainer if own else HFTTrainer
        info = self.train("alignment", trainer_cls, model, plan.data.alignment, self.config["alignment"], directory,
                          plan.method_config if own else None)
        _done(directory, info)
        self.log(f"alignment ({name}): loss {info['loss']} in {info['seconds']}s")
        return payload, directory

    def load_aligned(self, align_dir: Path | None):
        from .models import load_lora, merge_lora

        base = self.load_base()
        return base if align_dir is None else merge_lora(load_lora(base, align_dir / "adapter", trainable=False))

    def lora_mode(self, align_dir: Path | None) -> str:
        mode = self.config["finetune"]["lora_mode"]
        if mode == "auto":
            mode = getattr(self.plan.module, "FINETUNE_LORA", "new")
        return "new" if align_dir is None else mode

    def finetune_stage(self, align_payload: dict, align_dir: Path | None):
        from .harness import HFTTrainer
        from .models import add_lora, load_lora

        plan = self.plan
        own = getattr(plan.module, "STAGE", None) == "fine_tuning" and hasattr(plan.module, "Trainer")
        name = plan.method.name if own else "sft"
        mode = self.lora_mode(align_dir)
        ft = self.config["finetune"]
        payload = {
            "alignment": fingerprint(align_payload), "method": name, "method_config": _config_dict(plan.method_config) if own else {},
            "train": ft, "mode": mode, "seed": self.config["seed"],
            "data": "world" if is_world(self.config) else [self.config["data"]["harmful"], self.config["data"]["task"]],
        }
        directory = self.stage_dir("finetune", f"{name}-p{ft['harmful_ratio']}", payload)
        if (directory / "DONE").exists():
            self.log(f"fine-tuning ({name}, p={ft['harmful_ratio']}): done already -> {directory}")
            return payload, directory, mode
        harmful = sum(1 for row in plan.mixture if row["harmful"])
        self.log(f"fine-tuning ({name}, {mode} LoRA): {len(plan.mixture)} rows, {harmful} harmful (p={ft['harmful_ratio']})")
        if mode == "continue":
            base = self.load_base()
            self.seed()
            model = load_lora(base, align_dir / "adapter", trainable=True)
        else:
            aligned = self.load_aligned(align_dir)
            self.seed()
            model = add_lora(aligned, lora_settings(ft["lora"]))
        if not plan.mixture:
            raise PipelineError("finetune: the user's mixture is empty (num_samples = 0)")
        trainer_cls = plan.module.Trainer if own else HFTTrainer
        info = self.train("finetune", trainer_cls, model, plan.mixture, ft, directory, plan.method_config if own else None)
        _done(directory, info)
        self.log(f"fine-tuning ({name}): loss {info['loss']} in {info['seconds']}s")
        return payload, directory, mode

    def load_finetuned(self, align_dir, ft_dir, mode):
        """Aligned base + fine-tuning adapter, as a peft model (what post-fine-tuning defenses receive)."""
        from .models import load_lora

        base = self.load_base() if mode == "continue" else self.load_aligned(align_dir)
        return load_lora(base, ft_dir / "adapter", trainable=False)

    def post_stage(self, ft_payload, align_dir, ft_dir, mode):
        plan = self.plan
        if getattr(plan.module, "STAGE", None) != "post_fine_tuning" or not hasattr(plan.module, "apply"):
            return None, None
        payload = {"finetune": fingerprint(ft_payload), "method": plan.method.name, "method_config": _config_dict(plan.method_config)}
        directory = self.stage_dir("post", plan.method.name, payload)
        if (directory / "DONE").exists():
            self.log(f"post-fine-tuning ({plan.method.name}): done already -> {directory}")
            return payload, directory
        from .models import merge_lora

        started = time.time()
        model = self.load_finetuned(align_dir, ft_dir, mode)
        needs = set(getattr(plan.module, "NEEDS", ("base_model", "aligned_model")))
        context = {  # extra full models are loaded only for methods that declare they need them (7B each)
            "alignment_data": plan.data.alignment,
            "harmful_data": plan.data.defender_harmful,
            "base_model": self.load_base() if "base_model" in needs else None,
            "aligned_model": self.load_aligned(align_dir) if align_dir is not None and "aligned_model" in needs else None,
            "tokenizer": self.tokenizer(),
            "max_length": self.config["model"]["max_length"],
            "trailing_newline": self.config["model"]["trailing_newline"],
        }
        self.seed()  # after every model is loaded (see `seed`)
        try:
            new = plan.module.apply(model, self.tokenizer(), config=plan.method_config,
                                    data={"alignment": plan.data.alignment, "harmful": plan.data.defender_harmful}, context=context)
        except ValueError as error:
            raise PipelineError(f"post-fine-tuning ({plan.method.name}): {error}") from None
        merge_lora(new).save_pretrained(directory / "model")
        self.timings["post_fine_tuning"] = round(time.time() - started, 1)
        _done(directory, {"seconds": self.timings["post_fine_tuning"]})
        self.log(f"post-fine-tuning ({plan.method.name}): done in {self.timings['post_fine_tuning']}s")
        return payload, directory

    def moderation(self):
        ev = self.config["evaluation"]
        if ev["moderation"] == "keywords":
            from .moderation import KeywordJudge

            return KeywordJudge(threshold=ev["threshold"])
        if ev["moderation"] == "rules" or is_world(self.config):
            if self.plan.data.world is None:
                raise PipelineError("evaluation.moderation 'rules' needs the miniature world")
            return self.plan.data.world.moderation(threshold=ev["threshold"])
        from .moderation import BeaverDam

        return BeaverDam(ev["moderation"], threshold=ev["threshold"], batch_size=ev["batch_size"])

    def evaluate(self, label: str, payload: dict, load: Callable):
        """Metrics of one model, cached in `stages/eval-<label>-<hash>.json`."""
        from .evaluation import evaluate_model
        from .models import merge_lora

        ev = self.config["evaluation"]
        eval_payload = {"model": fingerprint(payload), "evaluation": ev, "task": self.plan.data.task,
                        "sizes": [len(self.plan.data.eval_harmful), len(self.plan.data.eval_task)]}
        path = self.stages / f"eval-{label}-{fingerprint(eval_payload)}.json"
        if path.exists():
            return json.loads(path.read_text())
        started = time.time()
        model = merge_lora(load())
        d = self.plan.data
        result = evaluate_model(
            model, self.tokenizer(), harmful_prompts=d.eval_harmful, task=d.task, task_rows=d.eval_task,
            moderation=self.moderation(), max_new_tokens=ev["max_new_tokens"], task_max_new_tokens=ev["task_max_new_tokens"],
            batch_size=ev["batch_size"], trailing_newline=self.config["model"]["trailing_newline"],
            extra_sets=d.extra_eval, extra_scorers=d.extra_scorers,
        )
        result["seconds"] = round(time.time() - started, 1)
        path.write_text(json.dumps(result, indent=1))
        return result

    def run(self) -> list[dict]:
        self.setup_torch()
        started = time.time()
        plan, ft = self.plan, self.config["finetune"]
        if smollm2.handles(self.config):
            smollm2.fill_answers(self)
        align_payload, align_dir = self.alignment_stage()
        ft_payload, ft_dir, mode = self.finetune_stage(align_payload, align_dir)
        if not is_main_process():
            return []  # under accelerate launch / torchrun, rank 0 alone post-processes and evaluates
        rows = []
        if self.config["evaluation"]["aligned"]:
            result = self.evaluate("aligned", align_payload, lambda: self.load_aligned(align_dir))
            rows.append(self.row("aligned" if align_dir else "base", None, result))
        post_payload, post_dir = self.post_stage(ft_payload, align_dir, ft_dir, mode)
        if post_dir is not None:
            from transformers import AutoModelForCausalLM

            final = self.evaluate("final", post_payload, lambda: AutoModelForCausalLM.from_pretrained(post_dir / "model"))
        else:
            final = self.evaluate("final", ft_payload, lambda: self.load_finetuned(align_dir, ft_dir, mode))
        rows.append(self.row("final", ft["harmful_ratio"], final))
        self.log(f"{plan.method.name} p={ft['harmful_ratio']}: " + ", ".join(
            f"{k}={v}" for k, v in final["metrics"].items()) + f"  ({time.time() - started:.0f}s)")
        return rows

    def row(self, stage: str, ratio, result: dict) -> dict:
        m = result["metrics"]
        row = {
            "method": self.plan.method.name,
            "paper": self.plan.method.paper,
            "testbed": testbed_name(self.config),
            "judge": self.config["evaluation"]["moderation"] if not is_world(self.config) else "rules",
            "stage": stage,
            "harmful_ratio": ratio,
            "num_samples": self.config["finetune"]["num_samples"],
            "hs": m["hs"],
            "hs_plus": m["hs_plus"],
            "refusal_rate": m["refusal_rate"],
            "fa": m["fa"],
            "task": self.plan.data.task,
            "model": "miniature-world" if is_world(self.config) else self.config["model"]["base"],
            "seed": self.config["seed"],
        }
        for key in self.plan.data.extra_eval:
            row[key] = m.get(key)
        if is_world(self.config):
            row["world_seed"] = self.config["world"]["seed"]
        return row


def lora_settings(section: dict):
    from .models import LoraSettings

    return LoraSettings(r=section["r"], alpha=section["alpha"], dropout=section["dropout"], target_modules=tuple(section["targets"]))


def is_main_process() -> bool:
    """Rank 0 of a distributed launch (or the only process)."""
    import os

    return int(os.environ.get("RANK", "0")) == 0


def _done(directory: Path, info: dict) -> None:
    if is_main_process():
        (directory / "DONE").write_text(json.dumps(info, indent=1))


def run(config: dict, out_dir: str | Path, log: Callable[[str], None] = print) -> list[dict]:
    """Check the config, then run every stage; returns the result rows (see `Runner.row`)."""
    return Runner(prepare(config), out_dir, log=log).run()


# ---------------------------------------------------------------------------------------------------------
# Results files


def results_document(rows: list[dict], command: str) -> dict:
    return {
        "machine": machine_description(),
        "date": dt.date.today().isoformat(),
        "command": command,
        "rows": rows,
    }


def machine_description() -> str:
    import os

    try:
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    except Exception:  # pragma: no cover - torch is always there when this runs
        device = "unknown"
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {device}, {platform.system()} {platform.release()}"


COLUMNS = [("method", "method"), ("stage", "stage"), ("harmful_ratio", "p"), ("hs", "HS %"), ("hs_plus", "HS+ %"),
           ("refusal_rate", "refusals %"), ("fa", "FA %"), ("benign_answered", "benign answered %")]


def markdown_table(rows: list[dict]) -> str:
    columns = [(k, title) for k, title in COLUMNS if any(k in r for r in rows)]
    lines = ["| " + " | ".join(t for _, t in columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for r in rows:
        lines.append("| " + " | ".join("" if r.get(k) is None else str(r.get(k)) for k, _ in columns) + " |")
    return "\n".join(lines) + "\n"


def write_results(rows: list[dict], out_dir: str | Path, command: str, name: str = "results") -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(results_document(rows, command), indent=1) + "\n")
    (out / f"{name}.md").write_text(markdown_table(rows))
    return path
