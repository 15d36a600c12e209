"""Pipeline smoke runs on a tiny miniature world: stages, resume, NaN stop, checks before training."""

import json
import sys
import types

import pytest

from reference_impl import pipeline
from reference_impl.pipeline import session as pipeline_session
from reference_impl.common.config import ConfigError, load_config
from reference_impl.common.harness import HFTTrainer

FAST = [
    "world.pretrain_steps=30",
    "world.hidden_size=32",
    "alignment.max_steps=4",
    "finetune.max_steps=4",
    "finetune.num_samples=40",
    "evaluation.max_new_tokens=6",
    "evaluation.batch_size=100",
]


def fast_config(*overrides):
    from reference_impl.cli import WORLD_CONFIG

    return load_config(WORLD_CONFIG, FAST + list(overrides))


def run_logged(config, out):
    lines = []
    rows = pipeline.run(config, out, log=lines.append)
    return rows, lines


def test_smoke_run_writes_stages_and_rows(tmp_path):
    rows, log = run_logged(fast_config("evaluation.aligned=true"), tmp_path)
    assert [r["stage"] for r in rows] == ["aligned", "final"]
    final = rows[-1]
    assert final["method"] == "sft" and final["harmful_ratio"] == 0.1 and final["task"] == "sst2"
    for key in ("hs", "hs_plus", "refusal_rate", "fa", "benign_answered"):
        assert 0.0 <= final[key] <= 100.0
    assert final["hs_plus"] >= final["hs"]
    stages = sorted(p.name.split("-")[0] for p in (tmp_path / "stages").iterdir() if p.is_dir())
    assert stages == ["align", "finetune"]
    assert all((p / "DONE").exists() for p in (tmp_path / "stages").iterdir() if p.is_dir())
    assert any("4 harmful (p=0.1)" in line for line in log)  # int(0.1 * 40)
    path = pipeline.write_results(rows, tmp_path, "test")
    document = json.loads(path.read_text())
    assert set(document) == {"kind", "machine", "date", "command", "rows"} and document["rows"] == rows
    assert document["kind"] == "runs"
    assert "| sft | final | 0.1 |" in path.with_suffix(".md").read_text()


def test_results_are_written_again_at_the_results_file_when_asked(tmp_path, capsys):
    """The --results FILE of sweep and matrix: the same JSON and table at that file's folder and name."""
    rows = [{"method": "sft", "stage": "final", "harmful_ratio": 0.1, "hs": 5.0, "fa": 90.0}]
    copy = tmp_path / "published" / "world.json"
    path = pipeline.write_results(rows, tmp_path / "run", "cmd", name="matrix", copy=copy)
    assert path == tmp_path / "run" / "matrix.json"
    assert json.loads(copy.read_text())["rows"] == rows == json.loads(path.read_text())["rows"]
    assert copy.with_suffix(".md").read_text() == path.with_suffix(".md").read_text()
    assert f"results also in {copy}" in capsys.readouterr().out
    pipeline.write_results(rows, tmp_path / "alone", "cmd")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone", "published", "run"]


def test_rerun_reuses_finished_stages(tmp_path, monkeypatch):
    config = fast_config()
    first, _ = run_logged(config, tmp_path)

    def no_training(*args, **kwargs):
        raise AssertionError("a finished stage was trained again")

    monkeypatch.setattr(HFTTrainer, "train", no_training)
    second, log = run_logged(config, tmp_path)
    assert second == first
    assert sum("done already" in line for line in log) == 2


def test_a_new_stage_version_retrains_instead_of_reusing(tmp_path, monkeypatch):
    """Directories trained by older code are not reused once STAGE_VERSION says the code changed what they hold."""
    config = fast_config()
    run_logged(config, tmp_path)
    monkeypatch.setattr(pipeline_session, "STAGE_VERSION", pipeline_session.STAGE_VERSION + 1)
    _, log = run_logged(config, tmp_path)
    assert not any("done already" in line for line in log)
    assert len([p for p in (tmp_path / "stages").iterdir() if p.is_dir()]) == 4  # old and new align + finetune


def test_stages_are_shared_between_ratios_and_methods(tmp_path):
    run_logged(fast_config("finetune.harmful_ratio=0.0"), tmp_path)
    _, log = run_logged(fast_config("finetune.harmful_ratio=0.2"), tmp_path)
    assert any(line.startswith("alignment (sft): done already") for line in log)
    _, log = run_logged(fast_config("method=non_aligned"), tmp_path)
    assert not any(line.startswith("alignment") for line in log)


def _adapter_tensors(out):
    from safetensors.torch import load_file

    return {p.parent.parent.name.rsplit("-", 1)[0]: load_file(p) for p in sorted((out / "stages").glob("*/adapter/*.safetensors"))}


def test_a_fresh_directory_reproduces_a_warm_one(tmp_path):
    """Regression: pre-training the world's base model (a cold cache) used to consume random numbers after the
    stage was seeded, so the same config gave other LoRA inits, and other HS, in a fresh run directory than in a
    sweep whose cache was warm. Both must give bit-identical adapters and the same rows."""
    import shutil

    import torch

    config = fast_config()
    cold, warm = tmp_path / "cold", tmp_path / "warm"
    # Warm: the base model is already cached when the run starts (as in the second run of a sweep).
    run_logged(fast_config("method=non_aligned"), warm)
    shutil.rmtree(warm / "stages")
    warm_rows, warm_log = run_logged(config, warm)
    assert not any("pre-trained the base model" in line for line in warm_log)
    cold_rows, cold_log = run_logged(config, cold)
    assert any("pre-trained the base model" in line for line in cold_log)
    cold_adapters, warm_adapters = _adapter_tensors(cold), _adapter_tensors(warm)
    assert sorted(cold_adapters) == sorted(warm_adapters) == ["align-sft", "finetune-sft-p0.1"]
    for stage, tensors in cold_adapters.items():
        assert tensors.keys() == warm_adapters[stage].keys()
        for name, tensor in tensors.items():
            assert torch.equal(tensor, warm_adapters[stage][name]), (stage, name)
    assert cold_rows == warm_rows


def test_interrupted_stage_resumes_from_its_last_checkpoint(tmp_path, monkeypatch):
    config = fast_config("finetune.save_steps=2")
    original = HFTTrainer.training_step
    calls = {"n": 0}

    def interrupt_once(self, model, inputs, num_items_in_batch=None):
        if self.state.global_step == 3 and not calls["n"] and "finetune" in str(self.args.output_dir):
            calls["n"] += 1
            raise KeyboardInterrupt
        return original(self, model, inputs, num_items_in_batch)

    monkeypatch.setattr(HFTTrainer, "training_step", interrupt_once)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(config, tmp_path, log=lambda line: None)
    rows, log = run_logged(config, tmp_path)
    assert any(line.startswith("alignment (sft): done already") for line in log)
    assert any("resuming from" in line and "checkpoint-2" in line for line in log)
    assert rows[-1]["stage"] == "final"


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    config = fast_config("alignment.save_steps=2", "alignment.max_steps=6")
    original = HFTTrainer.defense_step

    def nan_at_step_4(self, model, inputs):
        loss = original(self, model, inputs)
        in_alignment = "align-" in str(self.args.output_dir)  # not the world's base pre-training
        return loss * float("nan") if self.state.global_step == 3 and in_alignment else loss

    monkeypatch.setattr(HFTTrainer, "defense_step", nan_at_step_4)
    with pytest.raises(pipeline.PipelineError, match=r"alignment: loss became nan at step 4.*last good checkpoint: .*checkpoint-2"):
        pipeline.run(config, tmp_path, log=lambda line: None)
    align = next((tmp_path / "stages").glob("align-*"))
    assert (align / "checkpoints" / "checkpoint-2").is_dir()
    assert not (align / "DONE").exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["finetune.num_samples=100000"], "the mixture needs 10000 harmful rows"),
        (["finetune.harmful_ratio=0.0", "finetune.num_samples=5000"], "the mixture needs 5000 sst2 rows"),
        (["method=nope"], "names no registered method: 'nope'"),
        (["method_config.rho=1"], "unknown field\\(s\\) for sft: rho"),
    ],
)
def test_bad_runs_fail_before_any_training(tmp_path, overrides, message, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking")

    monkeypatch.setattr(HFTTrainer, "train", no_training)
    with pytest.raises(ConfigError, match=message):
        pipeline.run(fast_config(*overrides), tmp_path, log=lambda line: None)
    assert not (tmp_path / "cache").exists()  # not even the base model was pre-trained


def test_missing_model_and_data_paths_fail_before_training(tmp_path):
    with pytest.raises(ConfigError, match="model.base: model path does not exist"):
        pipeline.prepare(load_config(None, [f"model.base={tmp_path}/no-model", "evaluation.moderation=rules"]))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    overrides = [f"model.base={model_dir}", f"evaluation.moderation={model_dir}", f"data.alignment.source={tmp_path}/none.json"]
    with pytest.raises(ConfigError, match="none.json: dataset file does not exist"):
        pipeline.prepare(load_config(None, overrides))


def _fake_module(monkeypatch, name, source):
    module = types.ModuleType(name)
    exec(source, module.__dict__)
    monkeypatch.setitem(sys.modules, name, module)
    from reference_impl import registry

    method = registry.Method(name.rsplit(".", 1)[-1], name, module.METHOD.stage, None, None, "test double")
    monkeypatch.setitem(registry.METHODS, method.name, method)
    return module


POST_METHOD = '''
import copy
from dataclasses import dataclass
from reference_impl.common.method import MethodSpec
SEEN = {}
@dataclass(frozen=True)
class Config:
    scale: float = 0.0
def check_config(config, context):
    if config.scale < 0:
        raise ValueError("scale must be >= 0")
METHOD = MethodSpec(stage="post_fine_tuning", config=Config, needs=("harmful_data", "base_model", "aligned_model"),
                    check=check_config, post_process="apply")
def apply(model, tokenizer, *, config, data, context):
    import torch
    SEEN.update(context=context, data=data, peft=hasattr(model, "peft_config"))
    new = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in new.named_parameters():
            if "lora_B" in name:
                p.mul_(config.scale)
    return new
'''


def test_post_fine_tuning_protocol(tmp_path, monkeypatch):
    module = _fake_module(monkeypatch, "fake_defenses.zero_lora", POST_METHOD)
    rows, log = run_logged(fast_config("method=zero_lora", "finetune.harmful_ratio=0.1"), tmp_path)
    seen = module.SEEN
    assert seen["peft"]  # the fine-tuned model arrives with its LoRA unmerged
    assert {"alignment_data", "harmful_data", "base_model", "aligned_model", "tokenizer"} <= set(seen["context"])
    assert seen["data"]["harmful"] and seen["data"]["alignment"]
    assert any(line.startswith("post-fine-tuning (zero_lora): done") for line in log)
    assert (next((tmp_path / "stages").glob("post-zero_lora-*")) / "model" / "config.json").exists()
    # scale 0 removes the fine-tuning LoRA: the result equals the aligned model's
    aligned, _ = run_logged(fast_config("evaluation.aligned=true", "finetune.harmful_ratio=0.1"), tmp_path)
    assert rows[-1]["hs"] == aligned[0]["hs"] and rows[-1]["fa"] == aligned[0]["fa"]
    with pytest.raises(ConfigError, match="scale must be >= 0"):
        pipeline.prepare(fast_config("method=zero_lora", "method_config.scale=-1"))
    with pytest.raises(ConfigError, match="unknown field"):
        pipeline.prepare(fast_config("method=zero_lora", "method_config.sclae=1"))


TRAINING_METHOD = '''
from dataclasses import dataclass
from reference_impl.common.harness import HFTTrainer
from reference_impl.common.method import MethodSpec
CALLS = []
@dataclass(frozen=True)
class Config:
    weight: float = 1.0
def check_config(config, context):
    pass
METHOD = MethodSpec(stage="{stage}", config=Config, needs=("alignment_data", "harmful_data"), check=check_config,
                    trainer="Trainer", finetune_lora="continue")
class Trainer(HFTTrainer):
    def defense_step(self, model, inputs):
        CALLS.append((self.defense_config.weight, sorted(self.extra_datasets)))
        extra = self.next_extra_batch("harmful", 2)
        assert extra["input_ids"].shape[0] == 2
        return self.forward_backward(model, inputs)
'''


@pytest.mark.parametrize("stage", ["alignment", "fine_tuning"])
def test_training_defense_replaces_its_stage(tmp_path, monkeypatch, stage):
    module = _fake_module(monkeypatch, f"fake_defenses.trainer_{stage}", TRAINING_METHOD.format(stage=stage))
    name = f"trainer_{stage}"
    _, log = run_logged(fast_config(f"method={name}", "method_config.weight=2.5"), tmp_path)
    assert module.CALLS and all(call == (2.5, ["alignment", "harmful"]) for call in module.CALLS)
    assert len(module.CALLS) == 4  # max_steps=4, one micro-batch each
    expected = f"alignment ({name})" if stage == "alignment" else f"fine-tuning ({name}"
    assert any(line.startswith(expected) for line in log)
    if stage == "alignment":  # finetune_lora="continue": the alignment adapter keeps training
        assert any("continue LoRA" in line for line in log)


def test_a_new_method_version_retrains_that_method_only(tmp_path, monkeypatch):
    """MethodSpec.version (a fidelity fix to one method) retrains that method's stage; the shared SFT alignment
    stays reused, and at version 1 the hash is what it was before the field existed."""
    import dataclasses

    module = _fake_module(monkeypatch, "fake_defenses.versioned", TRAINING_METHOD.format(stage="fine_tuning"))
    config = fast_config("method=versioned")
    run_logged(config, tmp_path)
    _, again = run_logged(config, tmp_path)
    assert sum("done already" in line for line in again) == 2  # version 1 twice: both stages reused
    monkeypatch.setattr(module, "METHOD", dataclasses.replace(module.METHOD, version=2))
    _, log = run_logged(config, tmp_path)
    assert any(line.startswith("alignment (sft): done already") for line in log)
    assert not any(line.startswith("fine-tuning (versioned") and "done already" in line for line in log)
    assert any(line.startswith("fine-tuning (versioned") for line in log)


def test_the_methods_fixed_for_fidelity_declare_a_new_version():
    import importlib

    from reference_impl import registry

    for name in ("kl", "ewc", "t_vaccine", "tar", "safemerge"):
        method = registry.METHODS[name]
        assert getattr(importlib.import_module(method.module), method.spec).version == 2, name
