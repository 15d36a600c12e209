"""The results schema of issue 25: vocabulary keys checked with the nearest known keys (E304, E317), the
required `table`, and the source rule of `validate --strict` (E606-E608, issue 23)."""

from __future__ import annotations

import io
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import yaml

from hftkb.cli import main
from hftkb.models import RESULT_VOCABULARIES
from hftkb.result_checks import PLACE, SUMMARY_SITES, spelling_key
from hftkb.strict import check_sources
from hftkb.validate import load_corpus

REPO = Path(__file__).resolve().parents[2]

RECORD = """\
id: own-2024
title: A Fabricated Defense With Results
short_name: Own
date: 2024-01-02
kind: defense
added: 2024-02-01
relations:
  - type: compares_to
    target: other-2024
    note: {relation_note}
results:
  - metric: {metric}
    value: 8.3
    model: {model}
    task: {task}
    harmful_ratio: 0.1
    num_samples: 1000
    harmful_data: beavertails
    table: {table}
    baseline: 33.7
    note: {note}
  - method: {method}
    metric: harmful_score
    value: 28.3
    model: llama-2-7b
    task: sst2
    table: Table 4
"""
OTHER = "id: other-2024\ntitle: Another Fabricated Defense\nshort_name: Other\ndate: 2024-01-02\nkind: defense\nadded: 2024-02-01\n"
GOOD = dict(metric="harmful_score", model="llama-2-7b", task="sst2", table="Table 4", method="other-2024",
            note="read from the LaTeXML copy at deep-diver/ai-paper-reviewer", relation_note="Baseline in Table 4.")


def make_kb(root: Path, **fields: str) -> Path:
    shutil.copytree(REPO / "taxonomy", root / "taxonomy")
    (root / "papers").mkdir()
    (root / "papers" / "own-2024.yaml").write_text(RECORD.format(**{**GOOD, **fields}), encoding="utf-8")
    (root / "papers" / "other-2024.yaml").write_text(OTHER, encoding="utf-8")
    return root


def problems(kb: Path, strict: bool = False) -> list[tuple[int, str, str]]:
    corpus = load_corpus(kb)
    found = corpus.problems + (check_sources(corpus) if strict else [])
    return [(p.line, p.code, p.message) for p in found]


def test_a_result_in_the_schema_is_valid(tmp_path: Path):
    kb = make_kb(tmp_path)
    assert problems(kb, strict=True) == []
    result = load_corpus(kb).papers["own-2024"].results[0]
    assert (result.model, result.task, result.harmful_ratio, result.num_samples, result.table) == (
        "llama-2-7b", "sst2", 0.1, 1000, "Table 4")


@pytest.mark.parametrize("field, value, line, expected", [
    ("model", "Llama2-7B", 14, "results[0].model: 'Llama2-7B' is not a key of taxonomy/models.yaml ('Llama2-7B' is a "
     "spelling of 'llama-2-7b': write the key)"),
    ("model", "llama-2-7b-chatt", 14, "results[0].model: 'llama-2-7b-chatt' is not a key of taxonomy/models.yaml "
     "(nearest known keys: 'llama-2-7b-chat'"),
    ("task", "SST-2", 15, "'SST-2' is a spelling of 'sst2'"),
    ("metric", "harmfulness", 12, "results[0].metric: 'harmfulness' is not a key of taxonomy/metrics.yaml ('harmfulness' "
     "is a spelling of 'harmful_rate'"),
    ("metric", "harmful_scor", 12, "nearest known keys: 'harmful_score'"),
])
def test_unknown_vocabulary_names_file_line_and_nearest_keys(tmp_path: Path, field, value, line, expected):
    kb = make_kb(tmp_path, **{field: value})
    found = problems(kb)
    assert [(l, c) for l, c, _ in found] == [(line, "E304")]
    assert expected in found[0][2]


@pytest.mark.parametrize("method, expected", [
    ("Vaccine", "neither a paper record nor a key of taxonomy/baselines.yaml (nearest known keys"),
    ("Other", "('Other' is a spelling of 'other-2024': write the key)"),
    ("SFT", "('SFT' is a spelling of 'sft': write the key)"),
    ("aligned", "('aligned' is a spelling of 'no_finetune': write the key)"),
])
def test_unknown_method_is_e317_with_the_key_it_stands_for(tmp_path: Path, method, expected):
    kb = make_kb(tmp_path, method=method)
    found = problems(kb)
    assert [(l, c) for l, c, _ in found] == [(22, "E317")], found
    assert expected in found[0][2] or method == "Vaccine"
    if method == "Vaccine":
        assert "results[1].method: 'Vaccine' is neither a paper record" in found[0][2]


def test_table_is_required_and_the_ratio_is_a_fraction(tmp_path: Path):
    kb = make_kb(tmp_path)
    path = kb / "papers" / "own-2024.yaml"
    path.write_text(path.read_text().replace("    table: Table 4\n    baseline", "    baseline").replace(
        "harmful_ratio: 0.1", "harmful_ratio: 10"))
    found = problems(kb)
    assert (12, "E201") in [(l, c) for l, c, _ in found]  # the entry's first line: 'table' is missing
    assert any(c == "E201" and "table" in m for _, c, m in found)
    assert any(l == 16 and c == "E204" for l, c, _ in found)  # harmful_ratio 10 > 1


@pytest.mark.parametrize("table, ok", [
    ("Table 4", True), ("Table XII", True), ("Tables 1 and 4", True), ("Figure 3", True), ("Section 5.2", True),
    ("Appendix C", True), ("official README", True), ("Abstract", True), ("official project page", True),
    ("main results table", False), ("project page", False), ("the paper", False), ("tables show it", False),
])
def test_table_must_name_a_place_in_the_paper(tmp_path: Path, table, ok):
    kb = make_kb(tmp_path, table=repr(table))
    found = problems(kb, strict=True)
    if ok:
        assert found == []
    else:
        assert [(l, c) for l, c, _ in found] == [(19, "E606")]
        assert f"results[0].table: '{table}' names no table" in found[0][2]


@pytest.mark.parametrize("field, text, line", [
    ("note", "numbers from the papernotes.org summary", 21),
    ("note", "aispaper.com key finding", 21),
    ("table", "'Table 2 (via alphaxiv overview)'", 19),
    ("relation_note", "Baseline (papernotes.org summary).", 10),
    ("relation_note", "named in a third-party summary", 10),
])
def test_a_summary_site_as_source_is_an_error_with_its_line(tmp_path: Path, field, text, line):
    kb = make_kb(tmp_path, **{field: text})
    found = problems(kb, strict=True)
    assert [(l, c) for l, c, _ in found] == [(line, "E607")], found
    assert "summary or note site" in found[0][2]


def test_a_latexml_copy_of_the_paper_is_not_a_summary_site():
    assert not SUMMARY_SITES.search("read from the LaTeXML copy at deep-diver/ai-paper-reviewer content/2025-01-30/2501.17433")
    assert not SUMMARY_SITES.search("official README (git-disl/Booster), cross-checked against Table 1")


def test_citing_the_design_notes_is_an_error(tmp_path: Path):
    kb = make_kb(tmp_path, note="as verified in /work/shared/specs/DEFENSES.md section 6")
    found = problems(kb, strict=True)
    assert [(l, c) for l, c, _ in found] == [(21, "E608")]
    assert "results[0].note cites the project's design notes" in found[0][2]


def test_validate_strict_reports_the_source_rule_and_fails(tmp_path: Path):
    kb = make_kb(tmp_path, table="'main results table'")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["validate", "--strict", "--kb", str(kb)])
    assert code == 1
    assert f"{kb / 'papers' / 'own-2024.yaml'}:19: E606 results[0].table" in out.getvalue()
    assert "Traceback" not in err.getvalue()


def test_a_missing_result_vocabulary_is_reported_once_where_results_need_it(tmp_path: Path):
    kb = make_kb(tmp_path)
    (kb / "taxonomy" / "models.yaml").unlink()
    found = problems(kb)
    assert [(l, c) for l, c, _ in found] == [(0, "E315")]
    (kb / "papers" / "own-2024.yaml").unlink()  # no results: the vocabulary is not needed
    assert problems(kb) == []


# ---------------------------------------------------------------------------------------------------------
# The project's vocabularies


@pytest.mark.parametrize("vocabulary", list(RESULT_VOCABULARIES))
def test_each_spelling_names_one_key(vocabulary):
    terms = yaml.safe_load((REPO / "taxonomy" / f"{vocabulary}.yaml").read_text(encoding="utf-8"))
    owner: dict[str, str] = {}
    for term in terms:
        for spelling in [term["id"], term["name"], *term.get("aliases", [])]:
            key = spelling_key(spelling)
            assert owner.setdefault(key, term["id"]) == term["id"], f"'{spelling}' names {owner[key]} and {term['id']}"


def test_the_metrics_say_direction_unit_and_the_papers_spellings():
    metrics = {t["id"]: t for t in yaml.safe_load((REPO / "taxonomy" / "metrics.yaml").read_text(encoding="utf-8"))}
    assert metrics["harmful_score"]["direction"] == "lower" and metrics["harmful_score"]["judge"] == "beaver-dam-7b"
    assert metrics["finetune_accuracy"]["direction"] == "higher"
    # the spellings the records used before issue 25, each merged into a key or kept as its own key
    old = ["harmful_score", "attack_success_rate", "finetune_accuracy", "harmfulness_rate", "harmfulness",
           "harmfulness_classifier_score", "keyword_asr", "gpt4_harmfulness_score", "safety_score", "win_rate_gain",
           "win_rate", "rouge_1", "detection_rate", "poison_detection_f1", "capability_gap_recovered",
           "harmfulness_rate_relative_reduction", "harmful_response_ratio", "harmfulness_score_1_5", "gsm8k_accuracy",
           "refusal_rate", "toxicity_score", "mmlu_accuracy", "unsafe_response_rate", "rouge1_f1", "unsafe_rate",
           "leakage_ratio"]
    known = {spelling_key(s) for t in metrics.values() for s in [t["id"], *t.get("aliases", [])]}
    assert [name for name in old if spelling_key(name) not in known] == []


def test_every_committed_result_is_structured():
    corpus = load_corpus(REPO)
    assert corpus.problems == []
    results = [r for p in corpus.papers.values() for r in p.results]
    assert len(results) >= 90
    assert all(r.model in corpus.taxonomy["models"] and r.task in corpus.taxonomy["tasks"] for r in results)
    assert all(PLACE.search(r.table) for r in results)
