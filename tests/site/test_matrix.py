"""The defense-by-attack matrix on the implementations pages: shown from reference_impl/results/matrix*.json
when the file exists (a fabricated one here, in a copy of the fabricated knowledge base), absent otherwise."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from site_helpers import build


def test_no_matrix_file_no_matrix_section(fabricated_site: Path):
    index = (fabricated_site / "implementations/index.html").read_text()
    assert "Defenses against each attack" not in index and 'id="matrix"' not in index
    assert "measured-vs-reported" not in (fabricated_site / "implementations/demo/index.html").read_text()


def test_fabricated_matrix_is_shown_per_testbed_with_reported_numbers(tmp_path: Path, fabricated_kb: Path):
    from hftkb.models import Result
    from hftkb.validate import load_corpus
    from hftkb.yamlio import write_record

    kb = tmp_path / "kb"
    shutil.copytree(fabricated_kb, kb)
    paper = load_corpus(kb).papers["paper-00002"]  # the paper of the registered "demo" method
    paper.results = [Result(metric="harmful_score", value=11.5, baseline=40.25, model="llama-2-7b", task="sst2",
                            harmful_ratio=0.1, table="Table 3 <b>"),
                     Result(metric="finetune_accuracy", value=93.0, model="llama-2-7b", task="sst2", table="Table 4")]
    write_record(kb / "papers/paper-00002.yaml", paper)
    rows = []
    for testbed, shift in (("miniature_world_v2", 0), ("world_b", 5)):
        for attack in ("harmful_data", "benign_data"):
            rows.append({"method": "sft", "attack": attack, "testbed": testbed, "hs": 40.0 + shift, "fa": 90.0})
            rows += [{"method": "demo", "attack": attack, "testbed": testbed, "hs": 10.0 + shift + seed, "fa": 88.0,
                      "seed": seed} for seed in (1, 3)]
    (kb / "reference_impl/results/matrix_attacks.json").write_text(json.dumps(
        {"machine": "test box", "date": "2026-01-02", "command": "python -m reference_impl matrix cfg.yaml --attacks <all>",
         "rows": rows}))
    out = tmp_path / "out"
    build(kb, out)
    index = (out / "implementations/index.html").read_text()
    assert "Defenses against each attack" in index
    tables = re.findall(r'<table class="hftkb-matrix" data-testbed="([^"]+)">(.*?)</table>', index, re.S)
    assert [name for name, _ in tables] == ["miniature_world_v2", "world_b"]
    first = dict(tables)["miniature_world_v2"]
    assert "<th>harmful_data</th><th>benign_data</th>" in first
    assert re.search(r'<tr data-method="demo"><td><a href="[^"]*demo/">M2</a></td><td>12.0 &#91;11–13&#93; / 88</td>', first)
    assert '<tr data-method="sft">' in first and "<td>40 / 90</td>" in first
    assert "<td>45 / 90</td>" in dict(tables)["world_b"]
    assert "python -m reference_impl matrix cfg.yaml --attacks &lt;all&gt;" in index  # the command, escaped
    demo = (out / "implementations/demo/index.html").read_text()
    section = demo.split('id="measured-vs-reported"')[1]
    assert "Measured: miniature_world_v2" in section and "Measured: world_b" in section
    assert "<tr><td>harmful_data</td><td>12.0 &#91;11–13&#93; / 88</td><td>40 / 90</td></tr>" in section
    assert "Reported by the paper" in section and "<td>11.5</td><td>40.25</td><td>-28.75</td>" in section
    assert "<td>93</td><td></td><td></td>" in section  # no baseline, no difference
    assert "Table 3 &lt;b&gt;" in section


def _matrix_document(testbed: str, command: str, shift: float) -> dict:
    """A matrix results file as reference_impl/matrix.py writes it (results_document), for one testbed."""
    rows = []
    for attack in ("harmful_data", "virus"):
        rows.append({"method": "sft", "attack": attack, "testbed": testbed, "seed": 43, "stage": "final",
                     "hs": 40.0 + shift, "fa": 90.0})
        rows.append({"method": "demo", "attack": attack, "testbed": testbed, "seed": 43, "stage": "final",
                     "hs": 10.0 + shift, "fa": 88.0})
    return {"machine": f"{testbed} box", "date": "2026-12-03", "command": command, "rows": rows, "settings": {},
            "failures": []}


def test_both_testbeds_matrix_files_and_smollm2_results_are_shown(tmp_path: Path, fabricated_kb: Path):
    """The real file names: a matrix per testbed, each its own table with the command that made it, and the
    SmolLM2-135M results next to the world table and on each method's page."""
    kb = tmp_path / "kb"
    shutil.copytree(fabricated_kb, kb)
    results = kb / "reference_impl/results"
    commands = {"miniature_world_v2": "python -m reference_impl matrix world.yaml --methods all --attacks all",
                "smollm2_135m": "python -m reference_impl matrix smollm2_135m.yaml --attacks harmful_data,virus"}
    for shift, (testbed, command) in enumerate(commands.items()):
        (results / f"matrix_{testbed}.json").write_text(json.dumps(_matrix_document(testbed, command, 7.0 * shift)))
    world = json.loads((results / "matrix_miniature_world_v2.json").read_text())
    world["failures"] = ["lisa x virus: error: <schedule> does not fit"]
    (results / "matrix_miniature_world_v2.json").write_text(json.dumps(world))
    smollm2_rows = [{"method": method, "harmful_ratio": 0.1, "seed": seed, "hs": hs + seed - 43, "fa": 61.0, "stage": "final",
                     "testbed": "smollm2_135m"} for method, hs in (("sft", 70.0), ("demo", 30.0)) for seed in (43, 44)]
    (results / "smollm2_135m.json").write_text(json.dumps(
        {"machine": "cpu box", "date": "2026-12-04", "command": "python -m reference_impl run smollm2_135m.yaml",
         "rows": smollm2_rows, "settings": {}, "failures": []}))
    out = tmp_path / "out"
    build(kb, out)
    index = (out / "implementations/index.html").read_text()
    tables = re.findall(r'<h3 id="matrix-([^"]+)">[^<]*</h3><p>(.*?)</p>\s*<div class="hftkb-scroll"><table '
                        r'class="hftkb-matrix" data-testbed="([^"]+)">(.*?)</table>', index, re.S)
    assert [(anchor, testbed) for anchor, _, testbed, _ in tables] == [("miniature_world_v2", "miniature_world_v2"),
                                                                      ("smollm2_135m", "smollm2_135m")]
    for (_, intro, testbed, table), shift in zip(tables, (0, 7)):
        assert f"<code>{commands[testbed]}</code>" in intro and f"matrix_{testbed}.json" in intro
        assert f"{testbed} box" in intro
        assert "<th>harmful_data</th><th>virus</th>" in table
        assert f"<td>{10 + shift:g} / 88</td>" in table and f"<td>{40 + shift:g} / 90</td>" in table
    assert "Not run (–): lisa x virus: error: &lt;schedule&gt; does not fit" in index  # the world file's failure
    assert index.count("Not run (–)") == 1
    # SmolLM2-135M: every method side by side, right after the world table, seeds merged.
    world_at, smollm2_at = index.index('id="miniature-world"'), index.index('id="smollm2-135m"')
    assert world_at < smollm2_at < index.index('id="matrix"')
    smollm2 = re.search(r'<table data-testbed="smollm2-135m">(.*?)</table>', index, re.S).group(1)
    assert re.search(r'demo/">M2</a></td><td>30.5 &#91;30–31&#93; / 61</td>', smollm2)
    assert re.search(r'sft/">SFT</a></td><td>70.5 &#91;70–71&#93; / 61</td>', smollm2)
    assert "python -m reference_impl run smollm2_135m.yaml" in index.split('id="smollm2-135m"')[1].split("</p>")[0]
    demo = (out / "implementations/demo/index.html").read_text()
    block = demo.split("<h2>Measured: SmolLM2-135M</h2>")[1].split("<h2")[0]
    assert "cpu box" in block and "30.5 &#91;30–31&#93;" in block and "43, 44" in block
    section = demo.split('id="measured-vs-reported"')[1]
    assert "Measured: miniature_world_v2" in section and "Measured: smollm2_135m" in section


def test_no_smollm2_file_no_smollm2_block(fabricated_site: Path):
    assert 'id="smollm2-135m"' not in (fabricated_site / "implementations/index.html").read_text()
    assert "Measured: SmolLM2-135M" not in (fabricated_site / "implementations/demo/index.html").read_text()
