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
    paper.results = [Result(metric="harmful_score", value=11.5, baseline=40.25, model="Llama2-7B", setting="p=0.1",
                            source="Table 3 <b>"), Result(metric="finetune_accuracy", value=93.0, source="Table 4")]
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
    assert re.search(r'<tr data-method="demo"><td><a href="[^"]*demo/">demo</a></td><td>12.0 &#91;11–13&#93; / 88</td>', first)
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
