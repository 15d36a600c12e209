"""The committed results files: their shape (the site reads them without torch), their internal consistency, and
that the README shows exactly what they hold."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reference_impl.registry import METHODS

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "reference_impl" / "results"
RATIOS = (0.0, 0.1, 0.2)


def load(name: str) -> dict:
    path = RESULTS / name
    assert path.is_file(), f"{path} is missing: run the command named in the README defenses section"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert set(data) >= {"machine", "date", "command", "rows"}, f"{name}: top-level keys"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", data["date"]), f"{name}: date must be YYYY-MM-DD"
    assert data["machine"] and data["command"], f"{name}: machine and command must be filled in"
    assert isinstance(data["rows"], list) and data["rows"], f"{name}: no rows"
    return data


@pytest.mark.parametrize("name", ["miniature_world.json", "miniature_world_v2.json"])
def test_miniature_world_has_every_method_at_every_ratio(name):
    """Row shape in both files; every registered method in the current world (v2; issue 11). The v1 file is the
    table the README showed before v2 and holds the methods registered then."""
    data = load(name)
    seen = {}
    for row in data["rows"]:
        assert {"method", "harmful_ratio", "hs", "fa"} <= set(row), row
        assert row["method"] in METHODS, f"unknown method {row['method']!r}"
        for key in ("hs", "fa", "refusal_rate", "hs_plus"):
            if row.get(key) is not None:
                assert 0.0 <= row[key] <= 100.0, f"{key} out of [0, 100]: {row}"
        if row.get("stage", "final") != "final" or row.get("world_seed", 0) != 0:
            continue  # v2 also holds the aligned models and SFT in world seeds 1-2 (the calibration)
        key = (row["method"], row["harmful_ratio"], row.get("seed"))
        assert key not in seen, f"duplicate row {key}"
        seen[key] = row
    for method in METHODS if name == "miniature_world_v2.json" else {m for m, _, _ in seen}:
        for ratio in RATIOS:
            assert any(m == method and r == ratio for m, r, _ in seen), f"no row for {method} at p={ratio}"


def test_overhead_rows_are_consistent():
    data = load("overhead.json")
    by_model: dict[str, dict[str, dict]] = {}
    for row in data["rows"]:
        assert "method" in row and "model" in row and "machine" in row, row
        by_model.setdefault(row["model"], {})[row["method"]] = row
    for model, rows in by_model.items():
        sft = rows.get("sft")
        assert sft is not None, f"{model}: no SFT reference row"
        assert sft["step_time_ratio"] == 1.0 and sft["peak_mem_ratio"] == 1.0
        for method in ("vaccine", "booster", "lisa", "panacea"):
            if method not in rows:
                continue
            row = rows[method]
            for key in ("step_time_s", "step_time_ratio", "peak_mem_mb", "peak_mem_ratio"):
                assert row[key] > 0, (model, method, key)
            # the ratios are what the times say (no hand edits)
            assert row["step_time_ratio"] == pytest.approx(row["step_time_s"] / sft["step_time_s"], rel=0.01)
            assert row["peak_mem_ratio"] == pytest.approx(row["peak_mem_mb"] / sft["peak_mem_mb"], rel=0.01)
            assert row["within_target"] == (row["step_time_ratio"] <= row["target_time_ratio"])
        for method in ("antidote", "safedelta"):
            if method not in rows:
                continue
            row = rows[method]
            assert row["time_s"] > 0 and row["reference_time_s"] > 0 and row["reference"]
            assert row["time_ratio"] == pytest.approx(row["time_s"] / row["reference_time_s"], rel=0.01)
        for method in ("safe_lora", "safemerge", "resta"):
            if method in rows:
                assert rows[method]["time_s"] > 0


def test_overhead_block_is_the_published_figures():
    """The measured-results page's overhead tables are `python -m bench.bench_overhead --readme PAGE` output."""
    from reference_impl.tables.overhead import overhead_table

    page = (ROOT / "site" / "reference" / "measured-results.md").read_text(encoding="utf-8")
    block = page.split("<!-- overhead -->\n", 1)[1].split("<!-- /overhead -->", 1)[0]
    assert block == overhead_table(load("overhead.json")), \
        "overhead tables are stale: run python -m bench.bench_overhead --readme site/reference/measured-results.md"


def test_the_readme_is_a_short_front_door():
    """At most 200 lines; the full tables live on the measured-results page."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    assert "site/reference/measured-results.md" in readme


def test_readme_results_tables_are_the_table_command_output(capsys):
    """Every block between `<!-- results:NAME -->` markers in the README and the measured-results page is exactly
    `python -m reference_impl table reference_impl/results/NAME.json`; the page holds the world v2 table, SmolLM2's
    and both defense-by-attack matrices (issues 13 and 15)."""
    import re

    from reference_impl import cli
    from reference_impl.tables import marked_block

    page = (ROOT / "site" / "reference" / "measured-results.md").read_text(encoding="utf-8")
    for name in ("miniature_world_v2", "smollm2_135m", "matrix_miniature_world_v2", "matrix_smollm2_135m"):
        assert f"<!-- results:{name} -->" in page, f"measured-results.md lacks the <!-- results:{name} --> markers"
    for page in ("README.md", "site/reference/measured-results.md"):
        text = (ROOT / page).read_text(encoding="utf-8")
        for name in re.findall(r"<!-- results:([\w.-]+) -->", text):
            assert cli.main(["table", str(RESULTS / f"{name}.json")]) == 0
            assert marked_block(text, name) == capsys.readouterr().out, f"{page}: table {name} is stale: run python -m " \
                f"reference_impl table reference_impl/results/{name}.json --write {page}"


def test_table_command_rewrites_only_the_marked_block(tmp_path, capsys):
    from reference_impl import cli

    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results:miniature_world -->\nold table\n<!-- /results:miniature_world -->\noutro\n")
    assert cli.main(["table", str(RESULTS / "miniature_world.json"), "--write", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n<!-- results:miniature_world -->\nMean over") and text.endswith("<!-- /results:miniature_world -->\noutro\n")
    assert "old table" not in text and "| safe_lora | post_fine_tuning |" in text
    (tmp_path / "bad.json").write_text('{"kind": "defense_by_ratio", "rows": [{"method": "sft"}]}')
    assert cli.main(["table", str(tmp_path / "bad.json")]) == 2
    assert "bad.json: row 0 lacks harmful_ratio / hs / fa" in capsys.readouterr().err
    (tmp_path / "old.json").write_text('{"rows": [{"method": "sft", "harmful_ratio": 0.1, "hs": 1, "fa": 2}]}')
    assert cli.main(["table", str(tmp_path / "old.json")]) == 2  # no kind: no guess either
    assert "old.json: no `kind`" in capsys.readouterr().err


def test_cpu_peak_memory_is_the_peak_of_live_tensor_bytes():
    """The overhead bench's CPU memory figure: 8 MB live at the peak here (a and b), though 12 MB are allocated."""
    torch = pytest.importorskip("torch")
    from torch.profiler import ProfilerActivity, profile

    from bench.bench_overhead import peak_from_allocation_events

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        a = torch.ones(1_000_000)  # 4 MB
        b = a * 2  # 4 MB more: 8 MB live
        del a
        c = b + 1  # 4 MB again: still 8 MB live
        del b, c
    assert 8_000_000 <= peak_from_allocation_events(prof) < 8_001_000  # + a few bytes of scalars


def test_miniature_world_v2_rows_name_their_testbed_and_hold_the_nine_calibration_pairs():
    """Issue 11: every row names testbed, world seed and training seed; SFT (with its aligned model) ran in world
    seeds 0-2 x training seeds 43-45 at every ratio; every method of the sweep at every ratio in world 0."""
    data = load("miniature_world_v2.json")
    seen = set()
    for row in data["rows"]:
        assert row["testbed"] == "miniature_world_v2" and {"world_seed", "seed"} <= set(row), row
        key = (row["method"], row["stage"], row["harmful_ratio"], row["world_seed"], row["seed"])
        assert key not in seen, f"duplicate row {key}"
        seen.add(key)
    for world in (0, 1, 2):
        for seed in (43, 44, 45):
            assert ("sft", "aligned", None, world, seed) in seen, (world, seed)
            for ratio in (0.0, 0.05, 0.1, 0.2):
                assert ("sft", "final", ratio, world, seed) in seen, (world, seed, ratio)
    # Every method at every ratio with training seed 43; a method run over more seeds has all three (the methods
    # added on 2026-12-02 ran seed 43 only so far: the README says which rows have no range).
    methods = {row["method"] for row in data["rows"]}
    for method in methods:
        seeds = {row["seed"] for row in data["rows"] if row["method"] == method and row["world_seed"] == 0}
        assert seeds in ({43}, {43, 44, 45}), (method, seeds)
        for ratio in (0.0, 0.05, 0.1, 0.2):
            for seed in seeds:
                assert (method, "final", ratio, 0, seed) in seen, (method, ratio, seed)


def test_table_command_gives_the_matrix_and_the_smollm2_tables(tmp_path, capsys):
    """A `matrix` document is shown as the defense-by-attack matrix; a `method_rows` one (SmolLM2) as its table."""
    from reference_impl import cli

    def row(method, attack, hs, fa, testbed="miniature_world_v2"):
        return {"method": method, "attack": attack, "harmful_ratio": 0.1, "hs": hs, "fa": fa, "stage": "final",
                "testbed": testbed, "seed": 43}

    document = {"kind": "matrix", "machine": "m", "date": "d", "command": "python -m reference_impl matrix X",
                "rows": [row("sft", "mixture", 80.0, 91.0), row("sft", "benign", 6.0, 91.0), row("lisa", "mixture", 30.0, 90.0)],
                "failures": ["lisa x benign: error: method lisa: too long"]}
    (tmp_path / "matrix_x.json").write_text(json.dumps(document))
    assert cli.main(["table", str(tmp_path / "matrix_x.json")]) == 0
    out = capsys.readouterr().out
    assert "| method | mixture HS / FA | benign HS / FA |" in out and "| sft | 80.0 / 91.0 | 6.0 / 91.0 |" in out
    assert "| lisa | 30.0 / 90.0 |  |" in out and "`python -m reference_impl matrix X`" in out
    assert "* did not run: lisa x benign: error: method lisa: too long" in out  # an empty cell says why
    document["kind"] = "method_rows"
    document["rows"] = [row("sft", "mixture", 80.0, 91.0, "smollm2_135m"), row("ewc", "mixture", 70.0, 90.0, "smollm2_135m")]
    (tmp_path / "smollm2_135m.json").write_text(json.dumps(document))
    assert cli.main(["table", str(tmp_path / "smollm2_135m.json")]) == 0
    out = capsys.readouterr().out
    assert out.index("| sft | final | 0.1 | 80.0 | 91.0 |") < out.index("| ewc | final | 0.1 | 70.0 | 90.0 |")
    assert "SmolLM2-135M-Instruct, seed 43;" in out
    document["rows"][1]["seed"] = 44  # the table names the seeds its rows hold, not a fixed one
    (tmp_path / "smollm2_135m.json").write_text(json.dumps(document))
    assert cli.main(["table", str(tmp_path / "smollm2_135m.json")]) == 0
    assert "SmolLM2-135M-Instruct, seeds 43, 44;" in capsys.readouterr().out


def test_every_committed_results_file_names_its_kind_and_renders():
    """The tables seam: no file is read by guessing; `tables.migrate --check` finds nothing to add."""
    from reference_impl.tables import KINDS, render
    from reference_impl.tables.migrate import main as migrate

    for path in sorted(RESULTS.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        assert document.get("kind") in KINDS, f"{path.name}: kind {document.get('kind')!r}"
        assert render(document, path.name).strip(), path.name
    assert migrate(["--check"]) == 0


def test_the_migration_gives_old_documents_the_kind_the_old_guess_gave(tmp_path):
    from reference_impl.tables.migrate import guess_kind, migrate

    def rows(**extra):
        return [{"method": "sft", "harmful_ratio": 0.1, "hs": 1.0, "fa": 2.0, **extra}]

    assert guess_kind({"runs": [], "guardrail": "g"}) == "upload_filter"
    assert guess_kind({"rows": rows(attack="mixture") + rows(attack="virus")}) == "matrix"
    assert guess_kind({"rows": rows(attack="virus")}) == "defense_by_ratio"  # one attack: not a matrix
    assert guess_kind({"rows": rows(testbed="smollm2_135m")}) == "method_rows"
    assert guess_kind({"rows": rows(setting="rho=1")}) == "settings"
    assert guess_kind({"rows": [{"method": "sft", "model": "m", "machine": "x"}]}) == "overhead"
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"machine": "m", "rows": rows()}, indent=2) + "\n")
    assert migrate(old) == "defense_by_ratio" and migrate(old) is None  # once only
    assert old.read_text().startswith('{\n  "kind": "defense_by_ratio",\n  "machine": "m",')
