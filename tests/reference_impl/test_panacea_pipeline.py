"""Smoke run of Panacea through the pipeline CLI in a shrunken miniature world (seconds on a CPU).

Panacea replaces SFT fine-tuning: it continues the SFT alignment LoRA (the official `--alternating single_lora`)
with its three-pass step on the user's mixture plus the defender's harmful rows, and adds eps at the end; the
alignment adapter on disk is left as it was, and the run reports HS / FA.
"""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from pipeline_smoke import digest, run_cli  # noqa: E402


def test_panacea_runs_through_the_pipeline(tmp_path, capsys):
    assert run_cli(tmp_path, "sft") == 0
    (align_dir,) = (tmp_path / "stages").glob("align-sft-*")
    before = digest(align_dir / "adapter")

    assert run_cli(tmp_path, "panacea", "method_config.harmful_batch_size=4") == 0
    out = capsys.readouterr().out
    assert "alignment (sft): done already" in out and "fine-tuning (panacea, continue LoRA)" in out
    assert digest(align_dir / "adapter") == before
    (finetune_dir,) = (tmp_path / "stages").glob("finetune-panacea-*")
    assert (finetune_dir / "DONE").exists()
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    (row,) = [r for r in rows if r["method"] == "panacea"]
    assert 0 <= row["hs"] <= 100 and 0 <= row["fa"] <= 100


def test_bad_panacea_config_fails_before_training(tmp_path, capsys):
    assert run_cli(tmp_path, "panacea", "method_config.rho=0") == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("error:") and "rho must be > 0" in message
    assert not (tmp_path / "stages").exists() or not any((tmp_path / "stages").iterdir())
