"""Smoke run of SafeDelta through the pipeline CLI in a shrunken miniature world (seconds on a CPU).

The run gives SafeDelta the fine-tuned peft model, the aligned model and its alignment rows as calibration data;
the stage writes a new full model (aligned weights, with part of the fine-tuning delta adopted and the rest
compensated) and leaves the fine-tuned adapter on disk as it was.
"""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from pipeline_smoke import digest, run_cli  # noqa: E402


def test_safedelta_runs_through_the_pipeline_and_writes_a_new_model(tmp_path):
    assert run_cli(tmp_path, "sft") == 0
    (finetune_dir,) = (tmp_path / "stages").glob("finetune-sft-*")
    before = digest(finetune_dir / "adapter")

    assert run_cli(tmp_path, "safedelta", "method_config.budget=50.0", "method_config.nsamples=16") == 0
    assert digest(finetune_dir / "adapter") == before
    (post_dir,) = (tmp_path / "stages").glob("post-safedelta-*")
    assert (post_dir / "DONE").exists()
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    (row,) = [r for r in rows if r["method"] == "safedelta"]
    assert 0 <= row["hs"] <= 100 and 0 <= row["fa"] <= 100

    from safetensors.torch import load_file
    from transformers import LlamaForCausalLM

    from reference_impl.common.models import load_lora, merge_lora

    saved = {k: v for f in (post_dir / "model").glob("*.safetensors") for k, v in load_file(f).items()}
    (align_dir,) = (tmp_path / "stages").glob("align-sft-*")
    base_dir = next((tmp_path / "cache").glob("world-base-*"))
    aligned = merge_lora(load_lora(LlamaForCausalLM.from_pretrained(base_dir), align_dir / "adapter", trainable=False))
    aligned_state = {k: v.clone() for k, v in aligned.state_dict().items()}
    finetuned = merge_lora(load_lora(aligned, finetune_dir / "adapter", trainable=False)).state_dict()
    key = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(saved[key], aligned_state[key]) and not torch.equal(saved[key], finetuned[key])
    assert torch.equal(saved["model.norm.weight"], aligned_state["model.norm.weight"])


def test_bad_safedelta_budget_fails_before_training(tmp_path, capsys):
    assert run_cli(tmp_path, "safedelta", "method_config.budget=-1") == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("error:") and "safedelta.budget (s) must be a finite number >= 0" in message
    assert not (tmp_path / "stages").exists() or not any((tmp_path / "stages").iterdir())
