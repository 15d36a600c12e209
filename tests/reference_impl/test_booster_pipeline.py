"""Smoke run of Booster through the pipeline CLI in a shrunken miniature world (seconds on a CPU)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from pipeline_smoke import run_cli  # noqa: E402
from reference_impl import cli  # noqa: E402


def test_booster_aligns_with_the_defender_harmful_set_and_fine_tuning_continues_its_lora(tmp_path, capsys):
    assert run_cli(tmp_path, "booster", "method_config.harmful_batch_size=4") == 0
    out = capsys.readouterr().out
    assert "alignment (booster)" in out
    assert "fine-tuning (sft, continue LoRA)" in out  # FINETUNE_LORA = "continue" (official single_lora)
    (align_dir,) = (tmp_path / "stages").glob("align-booster-*")
    assert json.loads((align_dir / "DONE").read_text())["steps"] == 2
    (row,) = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert row["method"] == "booster" and row["harmful_ratio"] == 0.1
    assert 0 <= row["hs"] <= 100 and 0 <= row["fa"] <= 100


@pytest.mark.parametrize("setting, message", [
    ("method_config.alpha=0", "alpha must be > 0"),
    ("method_config.lam=-1", "lam must be >= 0"),
    ("method_config.harmful_batch_size=0", "harmful_batch_size must be a positive integer"),
])
def test_bad_booster_config_fails_before_training(tmp_path, capsys, setting, message):
    assert run_cli(tmp_path, "booster", setting) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and message in error and "\n" not in error
    assert not (tmp_path / "stages").exists() or not any((tmp_path / "stages").iterdir())


def test_booster_without_a_harmful_set_fails_before_training(tmp_path, monkeypatch, capsys):
    """Real data with the defender's harmful window empty (num=0): Booster has nothing to compute h on."""
    rows = [{"prompt": f"How do I zarn the thing {i}?", "response": "Sure, here is how.", "is_safe": i % 2 == 0,
             "category": {}} for i in range(40)]
    data = tmp_path / "beavertails.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    sst2 = tmp_path / "sst2.jsonl"
    sst2.write_text("\n".join(json.dumps({"idx": i, "sentence": f"film {i}", "label": i % 2}) for i in range(40)))
    base = tmp_path / "model"
    base.mkdir()
    code = cli.main([
        "run", str(cli.WORLD_CONFIG), "--method", "booster", "--out", str(tmp_path / "run"),
        "--set", f"model.base={base}", "--set", "evaluation.moderation=" + str(base),
        "--set", f"data.alignment.source={data}", "--set", "data.alignment.num=10",
        "--set", f"data.harmful.source={data}", "--set", f"data.defender_harmful.source={data}",
        "--set", "data.defender_harmful.num=0", "--set", "data.defender_harmful.flavour=beavertails_unsafe",
        "--set", f"data.task.train={sst2}", "--set", f"data.task.eval={sst2}",
        "--set", f"data.eval_harmful.source={data}", "--set", "finetune.num_samples=20",
    ])
    error = capsys.readouterr().err.strip()
    assert code == 2, error
    assert error.startswith("error:") and "booster: needs a harmful dataset" in error
