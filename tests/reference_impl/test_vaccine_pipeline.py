"""Smoke run of Vaccine through the pipeline CLI in a shrunken miniature world (seconds on a CPU)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from pipeline_smoke import run_cli  # noqa: E402


def test_vaccine_aligns_then_sft_fine_tunes_and_the_run_reports_hs_and_fa(tmp_path, capsys):
    assert run_cli(tmp_path, "vaccine", "method_config.rho=0.5") == 0
    out = capsys.readouterr().out
    assert "alignment (vaccine)" in out and "fine-tuning (sft, new LoRA)" in out
    (align_dir,) = (tmp_path / "stages").glob("align-vaccine-*")
    assert json.loads((align_dir / "DONE").read_text())["steps"] == 2
    assert any((align_dir / "adapter").glob("adapter_model.*"))
    (row,) = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert row["method"] == "vaccine" and row["harmful_ratio"] == 0.1
    assert 0 <= row["hs"] <= 100 and 0 <= row["fa"] <= 100


@pytest.mark.parametrize("setting, message", [
    ("method_config.rho=0", "rho must be > 0"),
    ("method_config.rho=-2", "rho must be > 0"),
    ("method_config.radius=2", "unknown field(s) for vaccine: radius"),
])
def test_bad_vaccine_config_fails_before_training(tmp_path, capsys, setting, message):
    assert run_cli(tmp_path, "vaccine", setting) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and message in error and "\n" not in error
    assert not (tmp_path / "stages").exists() or not any((tmp_path / "stages").iterdir())
