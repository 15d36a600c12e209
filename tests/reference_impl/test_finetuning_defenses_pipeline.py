"""Smoke runs of LDIFS, EWC, KL and the token-wise constrained SFT through the pipeline CLI in a shrunken miniature
world, and their bad settings refused in one line (seconds each on a CPU)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from pipeline_smoke import run_cli  # noqa: E402

METHODS = ["constrained_sft", "ewc", "kl", "ldifs"]


@pytest.mark.parametrize("method", METHODS)
def test_sft_aligns_then_the_defense_fine_tunes_and_the_run_reports_hs_and_fa(tmp_path, capsys, method):
    assert run_cli(tmp_path, method) == 0
    out = capsys.readouterr().out
    assert "alignment (sft)" in out and f"fine-tuning ({method}" in out
    (ft_dir,) = (tmp_path / "stages").glob(f"finetune-{method}-*")
    assert json.loads((ft_dir / "DONE").read_text())["steps"] == 2
    (row,) = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert row["method"] == method and 0 <= row["hs"] <= 100 and 0 <= row["fa"] <= 100


@pytest.mark.parametrize("method, setting, message", [
    ("ldifs", "method_config.rho=-1", "rho must be a number > 0"),
    ("ewc", "method_config.lam=-1", "lam must be a number >= 0"),
    ("kl", "method_config.lam=-0.5", "lam must be a number >= 0"),
    ("constrained_sft", "method_config.beta=0", "beta must be a number > 0"),
])
def test_bad_settings_fail_before_training_in_one_line(tmp_path, capsys, method, setting, message):
    assert run_cli(tmp_path, method, setting) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and message in error and "\n" not in error, error
