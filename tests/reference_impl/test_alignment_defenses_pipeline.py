"""Smoke runs of T-Vaccine, RepNoise, TAR and LoX through the pipeline CLI in a shrunken miniature world, and their
bad settings refused in one line (seconds each on a CPU)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from pipeline_smoke import run_cli  # noqa: E402

RUNS = {
    "t_vaccine": ["method_config.sampled_layers=1"],
    "repnoise": ["method_config.alpha=0.1"],
    "tar": ["method_config.inner_steps=2", "method_config.subsample=1"],  # K scaled down: TAR is ~80x SFT at K=64
    "lox": ["method_config.k=2", "method_config.c=0.5"],
}


@pytest.mark.parametrize("method", sorted(RUNS))
def test_aligns_with_the_defense_then_sft_fine_tunes_and_reports_hs_and_fa(tmp_path, capsys, method):
    assert run_cli(tmp_path, method, *RUNS[method]) == 0
    out = capsys.readouterr().out
    assert f"alignment ({method})" in out and "fine-tuning (sft, new LoRA)" in out
    (align_dir,) = (tmp_path / "stages").glob(f"align-{method}-*")
    assert json.loads((align_dir / "DONE").read_text())["steps"] == 2
    (row,) = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert row["method"] == method and row["harmful_ratio"] == 0.1
    assert 0 <= row["hs"] <= 100 and 0 <= row["fa"] <= 100


#: Refused before any training: by the config check (exit 2, "error:") or, where the check needs the loaded model
#: (its layer count, its LoRA rank), by the trainer before its first step / before saving (exit 1, "stopped:").
@pytest.mark.parametrize("method, settings, message", [
    ("t_vaccine", ["method_config.rho=0"], "rho must be a number > 0"),
    ("repnoise", ["method_config.beta=0"], "beta must be a number > 0"),
    ("repnoise", ["method_config.alpha=-1"], "alpha must be a number > 0"),
    ("tar", ["method_config.inner_steps=0"], "inner_steps must be a positive integer"),
    ("lox", ["method_config.c=0"], "c must be a number > 0"),
])
def test_bad_settings_fail_in_one_line(tmp_path, capsys, method, settings, message):
    assert run_cli(tmp_path, method, *settings) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and message in error and "\n" not in error, error


@pytest.mark.parametrize("method, settings, message", [
    ("t_vaccine", ["method_config.sampled_layers=3"], "sampled_layers=3 but the model has 2"),
    ("lox", ["method_config.k=9"], "k=9 is larger than the rank of the alignment update"),
])
def test_settings_the_loaded_model_cannot_take_stop_in_one_line(tmp_path, capsys, method, settings, message):
    assert run_cli(tmp_path, method, *settings) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]  # above it: the world's pre-training progress bars
    assert error.startswith("stopped:") and message in error and "\n" not in error, error
    assert not list((tmp_path / "stages").glob(f"align-{method}-*/DONE"))  # nothing half-done is kept as done
