"""Smoke run of RESTA through the pipeline CLI in a shrunken miniature world (seconds on a CPU).

The run gives RESTA the fine-tuned peft model, the aligned model and, as the unaligned counterpart, the run's base
model (the weights before safety alignment). The saved model must be theta_ft + b (theta_aligned - theta_base).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from pipeline_smoke import digest, run_cli  # noqa: E402


def test_resta_runs_through_the_pipeline_and_writes_theta_ft_plus_b_v(tmp_path):
    assert run_cli(tmp_path, "sft") == 0
    (finetune_dir,) = (tmp_path / "stages").glob("finetune-sft-*")
    base_dir = next((tmp_path / "cache").glob("world-base-*"))
    before = digest(finetune_dir / "adapter"), digest(base_dir)

    assert run_cli(tmp_path, "resta", "method_config.scale=0.5") == 0
    assert (digest(finetune_dir / "adapter"), digest(base_dir)) == before
    (post_dir,) = (tmp_path / "stages").glob("post-resta-*")
    assert (post_dir / "DONE").exists()

    from safetensors.torch import load_file
    from transformers import LlamaForCausalLM

    from reference_impl.common.models import load_lora, merge_lora

    saved = {k: v for f in (post_dir / "model").glob("*.safetensors") for k, v in load_file(f).items()}
    (align_dir,) = (tmp_path / "stages").glob("align-sft-*")
    base = {k: v.clone() for k, v in LlamaForCausalLM.from_pretrained(base_dir).state_dict().items()}
    aligned = merge_lora(load_lora(LlamaForCausalLM.from_pretrained(base_dir), align_dir / "adapter", trainable=False))
    aligned_state = {k: v.clone() for k, v in aligned.state_dict().items()}
    finetuned = merge_lora(load_lora(aligned, finetune_dir / "adapter", trainable=False)).state_dict()
    for key in ("model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.down_proj.weight"):
        expected = finetuned[key] + 0.5 * (aligned_state[key] - base[key])
        torch.testing.assert_close(saved[key], expected, rtol=1e-5, atol=1e-6)
        assert not torch.allclose(saved[key], finetuned[key])


def test_bad_resta_config_fails_before_training(tmp_path, capsys):
    assert run_cli(tmp_path, "resta", "method_config.drop_rate=1") == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("error:") and "drop_rate must be in [0, 1)" in message and "\n" not in message
    assert not (tmp_path / "stages").exists() or not any((tmp_path / "stages").iterdir())
