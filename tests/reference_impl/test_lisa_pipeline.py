"""Smoke run of Lisa through the pipeline CLI in a shrunken miniature world (seconds on a CPU)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from pipeline_smoke import run_cli as run_smoke  # noqa: E402


def run_cli(out, method, *extra):
    # Four fine-tuning steps (not the shared two) so that Lisa's scaled split switches state inside the run.
    return run_smoke(out, method, "finetune.max_steps=4", *extra)


def test_lisa_fine_tunes_after_sft_alignment_and_the_run_reports_hs_and_fa(tmp_path, capsys):
    code = run_cli(tmp_path, "lisa", "method_config.alignment_steps=1", "method_config.finetune_steps=1")
    assert code == 0
    out = capsys.readouterr().out
    assert "alignment (sft)" in out and "fine-tuning (lisa, new LoRA)" in out
    (finetune_dir,) = (tmp_path / "stages").glob("finetune-lisa-*")
    assert json.loads((finetune_dir / "DONE").read_text())["steps"] == 4
    (row,) = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert row["method"] == "lisa" and row["harmful_ratio"] == 0.1
    assert 0 <= row["hs"] <= 100 and 0 <= row["fa"] <= 100


def test_a_run_too_short_for_the_paper_split_is_refused_before_training(tmp_path, capsys):
    """4 fine-tuning steps with the paper's 100/900 split: not one cycle fits (issue 11's Lisa trap)."""
    code = run_cli(tmp_path, "lisa", "method_config.alignment_steps=100", "method_config.finetune_steps=900")
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: method lisa: alignment_steps + finetune_steps = 100 + 900 = 1000 is longer than "
                            "this run's 4 fine-tuning steps")
    assert "set method_config.alignment_steps and method_config.finetune_steps" in error
    assert error.endswith("(e.g. 1 and 3: 1 cycle(s), 75% of each on the user's data; yours: 90%)")
    assert not (tmp_path / "stages").exists() and not (tmp_path / "cache").exists()  # nothing trained


@pytest.mark.parametrize("alignment_steps, finetune_steps, total", [
    (100, 900, 104), (2, 18, 8), (2, 18, 4), (5, 5, 9), (1, 9, 50), (100, 900, 2), (3, 1, 3), (100, 900, 1000),
    (9, 1, 2), (9, 1, 8)])
def test_the_suggested_split_fits_the_run_and_keeps_the_share(alignment_steps, finetune_steps, total):
    """The split the refusal suggests passes the same check, and keeps the share of fine-tuning steps as closely as
    whole steps allow (the paper's 1:9 becomes 2/18 in the miniature world's 104 steps, as its config sets)."""
    from reference_impl.defenses import lisa

    config = lisa.Config(alignment_steps=alignment_steps, finetune_steps=finetune_steps)
    aligned, finetuned = lisa.fitting_split(config, total)
    assert aligned >= 1 and finetuned >= 1 and aligned + finetuned <= total
    lisa.check_schedule_fits(lisa.Config(alignment_steps=aligned, finetune_steps=finetuned, rho=0), total)
    share = finetune_steps / (alignment_steps + finetune_steps)
    best = min(abs(f / (a + f) - share) for a in range(1, total) for f in range(1, total - a + 1))
    assert abs(finetuned / (aligned + finetuned) - share) <= best + 0.1
    if (alignment_steps, finetune_steps, total) == (100, 900, 104):
        assert (aligned, finetuned) == (2, 18)


def test_a_one_step_run_is_refused_with_what_to_change():
    from reference_impl.defenses import lisa

    with pytest.raises(ValueError, match="this run has 1 fine-tuning step"):
        lisa.check_schedule_fits(lisa.Config(alignment_steps=1, finetune_steps=1), 1)


def test_a_proximal_warm_up_covering_the_run_is_refused_before_training(tmp_path, capsys):
    code = run_cli(tmp_path, "lisa", "method_config.alignment_steps=1", "method_config.finetune_steps=1",
                   "method_config.warmup_fraction=1")
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "the proximal warm-up (warmup_fraction=1 of 4 steps) covers the whole run" in error
    assert "set method_config.warmup_fraction below 1" in error
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("setting, message", [
    ("method_config.rho=-1", "rho must be >= 0"),
    ("method_config.finetune_steps=0", "finetune_steps must be > 0"),
    ("method_config.warmup_fraction=2", "warmup_fraction must be in [0, 1]"),
])
def test_bad_lisa_config_fails_before_training(tmp_path, capsys, setting, message):
    assert run_cli(tmp_path, "lisa", setting) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and message in error and "\n" not in error
    assert not (tmp_path / "stages").exists() or not any((tmp_path / "stages").iterdir())
