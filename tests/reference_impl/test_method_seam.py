"""The method and attack seams: a method is one file + one registry line; the pipeline reads only its MethodSpec.

The throw-away methods below are written to a temporary file, registered with `registry.register`, and run
through the pipeline on the shrunken miniature world of pipeline_smoke.py (seconds on a CPU).
"""

from __future__ import annotations

import importlib
import sys

import pytest

pytest.importorskip("torch")

from pipeline_smoke import FAST  # noqa: E402

from reference_impl import pipeline, registry  # noqa: E402
from reference_impl.common import evaluation, templates  # noqa: E402
from reference_impl.common.config import ConfigError, load_config  # noqa: E402
from reference_impl.common.method import MethodSpec  # noqa: E402

THROWAWAY = '''
"""A throw-away fine-tuning-stage method: its own rows, its own train and eval templates."""
from dataclasses import dataclass
from reference_impl.common.method import MethodSpec, PromptTemplate

SEEN = {}

@dataclass(frozen=True)
class Config:
    extra_rows: int = 3

def add_safety_rows(user_rows, run_data, config):
    return list(user_rows) + [dict(row, harmful=False) for row in run_data.alignment[: config.extra_rows]]

METHOD = MethodSpec(stage="fine_tuning", config=Config, needs=("alignment_data",), trainer="Trainer",
                    finetune_data=add_safety_rows,
                    train_template=PromptTemplate(prefix="trainprefix "),
                    eval_template=PromptTemplate(system="evalsystem line"))

# DEFENSE LOGIC
from reference_impl.common.harness import HFTTrainer

class Trainer(HFTTrainer):
    def defense_step(self, model, inputs):
        SEEN["rows"] = len(self.train_dataset)
        return self.forward_backward(model, inputs)
'''

POST = '''
"""A throw-away post-fine-tuning method that records what it was given."""
from dataclasses import dataclass
from reference_impl.common.method import MethodSpec

SEEN = {}

@dataclass(frozen=True)
class Config:
    pass

def apply(model, tokenizer, *, config, data, context):
    SEEN.update(context)
    return model

METHOD = MethodSpec(stage="post_fine_tuning", config=Config, needs=NEEDS, post_process="apply", aligned=ALIGNED)
'''


def fast(*overrides):
    from reference_impl.cli import WORLD_CONFIG

    return load_config(WORLD_CONFIG, FAST + list(overrides))


@pytest.fixture
def add_method(tmp_path, monkeypatch):
    """Write `source` to tmp_path/<name>.py and register it as method `name` (undone after the test)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "METHODS", dict(registry.METHODS))

    def add(name: str, stage: str, source: str):
        (tmp_path / f"{name}.py").write_text(source)
        monkeypatch.delitem(sys.modules, name, raising=False)
        registry.register(registry.Method(name, name, stage, summary="throw-away"))
        return importlib.import_module(name)

    return add


def test_a_throwaway_method_runs_with_its_rows_and_both_templates(add_method, tmp_path, monkeypatch):
    module = add_method("throwaway", "fine_tuning", THROWAWAY)
    prompts = {"train": [], "eval": []}
    original = templates.row_prompt

    def spy(kind):
        def record(row, **kwargs):
            prompt = original(row, **kwargs)
            prompts[kind].append(prompt)
            return prompt
        return record

    monkeypatch.setattr(templates, "row_prompt", spy("train"))  # tokenize_example (training)
    monkeypatch.setattr(evaluation, "row_prompt", spy("eval"))  # generate (evaluation)
    rows = pipeline.run(fast("method=throwaway"), tmp_path / "run", log=lambda line: None)
    assert rows[-1]["method"] == "throwaway" and 0 <= rows[-1]["hs"] <= 100
    assert module.SEEN["rows"] == 20 + 3  # the attack's 20 rows + finetune_data's 3
    assert list((tmp_path / "run" / "stages").glob("finetune-throwaway-p0.1-*"))
    user_prompts = [p for p in prompts["train"] if "trainprefix " in p]
    assert len(user_prompts) >= 23 and all("### Instruction:\ntrainprefix " in p for p in user_prompts)
    assert prompts["eval"] and all(p.startswith("evalsystem line\n\n### Instruction:\n") for p in prompts["eval"])
    assert not any("trainprefix" in p for p in prompts["eval"])


def test_a_post_method_gets_the_models_it_declares_and_none_else(add_method, tmp_path):
    source = POST.replace("NEEDS", '("safety_adapter", "unaligned_model", "harmful_data")').replace("ALIGNED", "True")
    module = add_method("recorder", "post_fine_tuning", source)
    pipeline.run(fast("method=recorder"), tmp_path / "run", log=lambda line: None)
    seen = module.SEEN
    assert (seen["safety_adapter"] / "adapter_config.json").exists()
    assert seen["safety_adapter"].parent.name.startswith("align-sft-")
    assert hasattr(seen["unaligned_model"], "generate") and seen["base_model"] is None and seen["aligned_model"] is None
    assert seen["harmful_data"] and seen["tokenizer"] is not None


def test_a_model_need_the_run_cannot_give_is_refused_before_training(add_method):
    add_method("no_align", "post_fine_tuning", POST.replace("NEEDS", '("safety_adapter",)').replace("ALIGNED", "False"))
    with pytest.raises(ConfigError, match="method no_align needs safety_adapter, which this run cannot give"):
        pipeline.prepare(fast("method=no_align"))
    add_method("typo", "post_fine_tuning", POST.replace("NEEDS", '("safty_adapter",)').replace("ALIGNED", "True"))
    with pytest.raises(ConfigError, match="unknown need\\(s\\) safty_adapter"):
        pipeline.prepare(fast("method=typo"))


def test_a_spec_naming_a_missing_function_is_refused(add_method):
    add_method("broken", "post_fine_tuning", POST.replace("NEEDS", "()").replace("ALIGNED", "True").replace('post_process="apply"', 'post_process="aply"'))
    with pytest.raises(ConfigError, match="method 'broken': broken has no 'aply' \\(its MethodSpec post_process\\)"):
        pipeline.prepare(fast("method=broken"))


def test_unknown_attack_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"finetune.attack names no known attack: 'nope' \(known: mixture"):
        fast("finetune.attack=nope")
    with pytest.raises(ConfigError, match="finetune.attack_config: unknown field\\(s\\) for mixture: size"):
        pipeline.prepare(fast("finetune.attack_config.size=3"))


def test_an_attack_is_one_file_and_one_registry_line(tmp_path, monkeypatch):
    from reference_impl import attacks

    (tmp_path / "only_benign.py").write_text(
        "from dataclasses import dataclass\nfrom reference_impl.common.method import AttackSpec\n"
        "@dataclass(frozen=True)\nclass Config:\n    n: int = 5\n"
        "def build(harmful, benign, finetune, config, context):\n"
        "    return [dict(row, harmful=False) for row in benign[: config.n]]\n"
        "ATTACK = AttackSpec(config=Config, build=build)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(attacks.ATTACKS, "only_benign", "only_benign")
    plan = pipeline.prepare(fast("finetune.attack=only_benign", "finetune.attack_config.n=7"))
    assert len(plan.mixture) == 7 and not any(row["harmful"] for row in plan.mixture)


def test_every_registered_method_declares_its_spec_and_its_registry_stage():
    for method in registry.METHODS.values():
        spec = getattr(importlib.import_module(method.module), method.spec)
        assert isinstance(spec, MethodSpec), method.name
        if (method.stage, spec.stage) == ("post_fine_tuning", "fine_tuning"):
            # Filed post-fine-tuning by the taxonomy, but trained during fine-tuning (Panacea, arXiv 2501.18100:
            # eps is optimised with the user's loss and added afterwards): its Trainer must say so.
            assert spec.trainer and spec.post_process is None, method.name
            continue
        assert spec.stage == method.stage, method.name


def test_format_prompt_with_a_template():
    from reference_impl.common.method import PromptTemplate
    from reference_impl.common.templates import format_prompt

    plain = format_prompt("Say hi", "x")
    assert format_prompt("Say hi", "x", template=PromptTemplate()) == plain
    custom = format_prompt("Say hi", "x", template=PromptTemplate(system="You are safe.", prefix="[T] "))
    assert custom == "You are safe.\n\n### Instruction:\n[T] Say hi\n\n### Input:\nx\n\n### Response:"
    assert format_prompt("Say hi", template=PromptTemplate(system="S")) == "S\n\n### Instruction:\nSay hi\n\n### Response:"


def test_a_template_may_be_a_function_of_the_config(add_method):
    source = THROWAWAY.replace('eval_template=PromptTemplate(system="evalsystem line")',
                               'eval_template=lambda config: PromptTemplate(system=f"{config.extra_rows} rows")')
    add_method("by_config", "fine_tuning", source)
    plan = pipeline.prepare(fast("method=by_config", "method_config.extra_rows=4"))
    assert plan.eval_template.system == "4 rows" and plan.train_template.prefix == "trainprefix "
    add_method("bad_template", "fine_tuning", source.replace("PromptTemplate(system=f\"{config.extra_rows} rows\")", '"oops"'))
    with pytest.raises(ConfigError, match="method bad_template: a method template must be a PromptTemplate, got str"):
        pipeline.prepare(fast("method=bad_template"))
