"""Smoke run of SafeMERGE through the pipeline CLI in a shrunken miniature world (seconds on a CPU).

The run gives SafeMERGE the fine-tuned peft model, the base / aligned pair and its safety adapter (the run's
alignment LoRA, of the fine-tuning rank in the world config); a dedicated one can be named with
`method_config.safety_adapter`. The stage writes a new model and leaves both adapters on disk as they were.
"""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from pipeline_smoke import digest, run_cli  # noqa: E402


def aligned_model(tmp_path):
    from transformers import LlamaForCausalLM

    from reference_impl.common.models import load_lora, merge_lora

    (align_dir,) = (tmp_path / "stages").glob("align-sft-*")
    base_dir = next((tmp_path / "cache").glob("world-base-*"))
    return merge_lora(load_lora(LlamaForCausalLM.from_pretrained(base_dir), align_dir / "adapter", trainable=False))


def make_safety_adapter(tmp_path):
    """A dedicated safety LoRA with the world config's fine-tuning settings (r = 8, alpha = 16, every linear)."""
    from reference_impl.common.models import LoraSettings, add_lora

    model = add_lora(aligned_model(tmp_path), LoraSettings(r=8, alpha=16, dropout=0.0))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=torch.Generator().manual_seed(len(name))) * 0.05)
    model.save_pretrained(tmp_path / "safety")
    return tmp_path / "safety"


def test_safemerge_runs_through_the_pipeline_and_writes_a_new_model(tmp_path, capsys):
    assert run_cli(tmp_path, "sft") == 0
    (finetune_dir,) = (tmp_path / "stages").glob("finetune-sft-*")
    (align_dir,) = (tmp_path / "stages").glob("align-sft-*")
    before = digest(finetune_dir / "adapter"), digest(align_dir / "adapter")

    # threshold 1: every layer (cos < 1) is merged with the run's safety adapter (its alignment LoRA)
    assert run_cli(tmp_path, "safemerge", "method_config.threshold=1.0") == 0
    assert "fine-tuning (sft, p=0.1): done already" in capsys.readouterr().out
    assert (digest(finetune_dir / "adapter"), digest(align_dir / "adapter")) == before

    (post_dir,) = (tmp_path / "stages").glob("post-safemerge-*")
    assert (post_dir / "DONE").exists()
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    (row,) = [r for r in rows if r["method"] == "safemerge"]
    assert 0 <= row["hs"] <= 100 and 0 <= row["fa"] <= 100

    from safetensors.torch import load_file

    from reference_impl.common.models import load_lora, merge_lora

    saved = {k: v for f in (post_dir / "model").glob("*.safetensors") for k, v in load_file(f).items()}
    aligned = aligned_model(tmp_path)
    aligned_state = {k: v.clone() for k, v in aligned.state_dict().items()}
    finetuned = merge_lora(load_lora(aligned, finetune_dir / "adapter", trainable=False)).state_dict()
    key = "model.layers.1.mlp.down_proj.weight"
    assert not torch.allclose(saved[key], finetuned[key]) and not torch.allclose(saved[key], aligned_state[key])
    assert torch.equal(saved["model.embed_tokens.weight"], finetuned["model.embed_tokens.weight"])


def test_a_dedicated_safety_adapter_replaces_the_runs(tmp_path):
    assert run_cli(tmp_path, "sft") == 0
    safety = make_safety_adapter(tmp_path)
    before = digest(safety)
    assert run_cli(tmp_path, "safemerge", "method_config.threshold=1.0") == 0
    assert run_cli(tmp_path, "safemerge", "method_config.threshold=1.0", f"method_config.safety_adapter={safety}") == 0
    assert digest(safety) == before
    from safetensors.torch import load_file

    runs = [{k: v for f in (d / "model").glob("*.safetensors") for k, v in load_file(f).items()}
            for d in sorted((tmp_path / "stages").glob("post-safemerge-*"))]
    assert len(runs) == 2
    key = "model.layers.1.mlp.down_proj.weight"
    assert not torch.allclose(runs[0][key], runs[1][key])  # a different safety adapter, a different merge


def test_bad_safemerge_config_fails_before_training(tmp_path, capsys):
    assert run_cli(tmp_path, "safemerge", "method_config.safety_weight=2") == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("error:") and "safety_weight must be in [0, 1]" in message and "\n" not in message
    assert not (tmp_path / "stages").exists() or not any((tmp_path / "stages").iterdir())
