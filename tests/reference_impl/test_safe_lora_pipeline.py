"""Smoke run of Safe LoRA through the pipeline CLI in a shrunken miniature world (seconds on a CPU).

The pipeline hands Safe LoRA the fine-tuned peft model plus the run's own base / aligned pair (the world's base
model and the merged SFT alignment); the stage writes a new model and leaves the fine-tuned adapter as it was.
"""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from pipeline_smoke import run_cli, digest  # noqa: E402

FAST = [
    "world.pretrain_steps=5", "world.hidden_size=32",
    "alignment.max_steps=2", "finetune.max_steps=2", "finetune.num_samples=20",
    "evaluation.max_new_tokens=3", "evaluation.task_max_new_tokens=2",
]


def test_safe_lora_runs_through_the_pipeline_and_writes_a_new_model(tmp_path):
    assert run_cli(tmp_path, "sft") == 0
    (finetune_dir,) = (tmp_path / "stages").glob("finetune-sft-*")
    adapter_before = digest(finetune_dir / "adapter")

    # threshold 1: every LoRA layer is projected, so the saved model must differ from the fine-tuned one
    assert run_cli(tmp_path, "safe_lora", "method_config.mode=threshold", "method_config.threshold=1.0") == 0
    assert digest(finetune_dir / "adapter") == adapter_before

    (post_dir,) = (tmp_path / "stages").glob("post-safe_lora-*")
    assert (post_dir / "DONE").exists()
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    (row,) = [r for r in rows if r["method"] == "safe_lora"]
    assert 0 <= row["hs"] <= 100 and 0 <= row["fa"] <= 100

    from safetensors.torch import load_file
    from transformers import LlamaForCausalLM

    from reference_impl.common.models import load_lora, merge_lora

    projected = {k: v for f in (post_dir / "model").glob("*.safetensors") for k, v in load_file(f).items()}
    (align_dir,) = (tmp_path / "stages").glob("align-sft-*")
    base_dir = next((tmp_path / "cache").glob("world-base-*"))
    aligned = merge_lora(load_lora(LlamaForCausalLM.from_pretrained(base_dir), align_dir / "adapter", trainable=False))
    aligned_state = {k: v.clone() for k, v in aligned.state_dict().items()}
    finetuned = merge_lora(load_lora(aligned, finetune_dir / "adapter", trainable=False)).state_dict()
    key = "model.layers.1.mlp.down_proj.weight"
    assert not torch.allclose(projected[key], finetuned[key])  # the update was projected ...
    assert not torch.allclose(projected[key], aligned_state[key])  # ... not removed


def test_bad_safe_lora_mode_fails_before_training(tmp_path, capsys):
    code = run_cli(tmp_path, "safe_lora", "method_config.mode=lowest")
    assert code == 2
    assert "mode must be one of number, threshold" in capsys.readouterr().err
    assert not (tmp_path / "stages").exists() or not any((tmp_path / "stages").iterdir())
