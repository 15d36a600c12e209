"""The world-stability summary (reference_impl/benchmark/world_stability.py) on hand-computed rows."""

from __future__ import annotations

import json
import statistics

import pytest

from reference_impl.benchmark.world_stability import main, per_ratio, read_rows


def sweep_document(seed, hs_by_ratio, fa=91.0, world_seed=0):
    rows = [{"method": "sft", "stage": "aligned", "harmful_ratio": None, "hs": 1.0, "fa": 66.0, "seed": seed,
             "world_seed": world_seed, "refusal_rate": 97.0}]
    rows += [{"method": "sft", "stage": "final", "harmful_ratio": p, "hs": hs, "fa": fa, "seed": seed,
              "world_seed": world_seed, "refusal_rate": 100 - hs} for p, hs in hs_by_ratio.items()]
    return {"machine": "test machine", "date": "2026-12-08", "command": "sweep", "rows": rows}


def test_spans_noise_split_and_targets_by_hand(tmp_path):
    hs = {43: (5.0, 80.0, 90.0), 44: (6.0, 50.0, 60.0), 45: (5.0, 50.0, 54.0)}
    paths = []
    for seed, (h0, h1, h2) in hs.items():
        path = tmp_path / f"seed{seed}.json"
        path.write_text(json.dumps(sweep_document(seed, {0.0: h0, 0.1: h1, 0.2: h2}, fa=84.0 if seed == 45 else 91.0)))
        paths.append(str(path))
    other_world = tmp_path / "world1.json"
    other_world.write_text(json.dumps(sweep_document(43, {0.1: 0.0}, world_seed=1)))
    rows, machines = read_rows(paths + [str(other_world)])
    assert len(rows) == 9 and machines == ["test machine"] * 4  # aligned rows and world 1 left out
    by_ratio = {r["harmful_ratio"]: r for r in per_ratio(rows)}
    p1 = by_ratio[0.1]
    # HS 80, 50, 50: span 30; sample SD sqrt(((20)^2 + 2 * (10)^2) / 2) = sqrt(300) = 17.32;
    # binomial SD of 100 prompts: sqrt(mean(.8*.2, .5*.5, .5*.5) / 100) * 100 = sqrt(0.22) * 10 = 4.69;
    # the rest: sqrt(300 - 22) = 16.67
    assert p1["hs"] == [80.0, 50.0, 50.0] and p1["hs_span"] == 30.0
    assert p1["between_seed_sd"] == pytest.approx(17.32, abs=0.01)
    assert p1["eval_sd"] == pytest.approx(4.69, abs=0.01)
    assert p1["model_sd"] == pytest.approx(16.67, abs=0.01)
    assert p1["targets"]["hs_span <= 20"] == {"met": False, "by": 10.0}
    assert p1["targets"]["fa_min >= 85"] == {"met": False, "by": -1.0}  # seed 45's FA 84
    assert by_ratio[0.0]["targets"]["hs_span <= 10"] == {"met": True, "by": -9.0}
    assert by_ratio[0.2]["targets"]["hs_min >= 55"] == {"met": False, "by": -1.0}  # seed 45's 54
    out = tmp_path / "stability.json"
    assert main(paths + ["--command", "the sweeps", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["all_targets_met"] is False and document["command"] == "the sweeps"
    assert document["machine"] == "test machine" and len(document["rows"]) == 9


def test_one_seed_cannot_meet_a_span_target():
    rows = [{"world_seed": 0, "seed": 43, "harmful_ratio": 0.1, "hs": 50.0, "fa": 91.0, "refusal_rate": 50.0}]
    (entry,) = per_ratio(rows)
    assert entry["hs_span"] == 0 and entry["between_seed_sd"] is None
    assert entry["targets"]["hs_span <= 20"] == {"met": False, "by": None}


def test_committed_summary_matches_its_rows():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "reference_impl" / "results" / "world_stability_v2.json"
    document = json.loads(path.read_text())
    assert document["ratios"] == per_ratio(document["rows"])
    for candidate in document["candidates"]:
        assert candidate["ratios"] == per_ratio(candidate["rows"])
    assert document["all_targets_met"] == all(c["met"] for r in document["ratios"] for c in r["targets"].values())
    for check in document["paired"]:
        for result in check["results"]:
            deltas = [p["delta_hs"] for p in result["pairs"]]
            assert result["delta_hs"]["mean"] == pytest.approx(sum(deltas) / len(deltas))
            assert result["sd_delta_hs"] == pytest.approx(statistics.stdev(deltas), abs=0.01)
            assert {p["sft_hs"] for p in result["pairs"]} <= {r["hs"] for r in document["rows"]}
    assert len(document["rows"]) == 15 and {r["seed"] for r in document["rows"]} == {43, 44, 45, 46, 47}


def test_bad_file_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n "rows": [,]\n}')
    with pytest.raises(SystemExit, match=r"bad\.json:2: not JSON"):
        read_rows([str(bad)])
    broken = tmp_path / "broken.json"
    document = sweep_document(43, {0.1: 50.0})
    document["rows"][1]["fa"] = None
    broken.write_text(json.dumps(document))
    with pytest.raises(SystemExit, match=r"broken\.json: row 1 lacks fa"):
        read_rows([str(broken)])
