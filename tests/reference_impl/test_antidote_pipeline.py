"""Smoke run of Antidote through the pipeline CLI in a shrunken miniature world (seconds on a CPU).

It checks what the pipeline contract promises: the post-fine-tuning stage runs after SFT fine-tuning, writes a
NEW model to its own directory, leaves the fine-tuned adapter on disk as it was, and the run reports HS / FA.
"""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from pipeline_smoke import run_cli, digest  # noqa: E402


def test_antidote_runs_through_the_pipeline_and_writes_a_new_model(tmp_path, capsys):
    assert run_cli(tmp_path, "sft") == 0  # the same fine-tuned model Antidote will repair
    (finetune_dir,) = (tmp_path / "stages").glob("finetune-sft-*")
    adapter_before = digest(finetune_dir / "adapter")

    assert run_cli(tmp_path, "antidote", "method_config.dense_ratio=0.2") == 0
    assert "fine-tuning (sft, p=0.1): done already" in capsys.readouterr().out  # the SFT stage was reused
    assert digest(finetune_dir / "adapter") == adapter_before  # the input model was not written over

    (post_dir,) = (tmp_path / "stages").glob("post-antidote-*")
    assert (post_dir / "DONE").exists() and any((post_dir / "model").glob("*.safetensors"))
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    (row,) = [r for r in rows if r["method"] == "antidote"]
    assert row["harmful_ratio"] == 0.1 and 0 <= row["hs"] <= 100 and 0 <= row["fa"] <= 100

    # the saved model really is the pruned one: its q_proj differs from aligned + fine-tuning update
    from safetensors.torch import load_file

    from reference_impl.common.models import load_lora, merge_lora

    pruned = {k: v for f in (post_dir / "model").glob("*.safetensors") for k, v in load_file(f).items()}
    (align_dir,) = (tmp_path / "stages").glob("align-sft-*")
    from transformers import LlamaForCausalLM

    base_dir = next((tmp_path / "cache").glob("world-base-*"))
    aligned = merge_lora(load_lora(LlamaForCausalLM.from_pretrained(base_dir), align_dir / "adapter", trainable=False))
    finetuned = merge_lora(load_lora(aligned, finetune_dir / "adapter", trainable=False)).state_dict()
    key = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(pruned[key], finetuned[key])
    assert torch.equal(pruned["model.embed_tokens.weight"], finetuned["model.embed_tokens.weight"])


def test_bad_antidote_config_fails_before_training(tmp_path, capsys):
    code = run_cli(tmp_path, "antidote", "method_config.dense_ratio=1.5")
    assert code == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("error:") and "dense_ratio must be in [0, 1]" in message
    assert not (tmp_path / "stages").exists() or not any((tmp_path / "stages").iterdir())
