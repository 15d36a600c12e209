"""`hftkb validate --strict`: the completeness warnings (W601, W602), `absent:`, the completeness table, and
summaries copied from the arXiv abstract (W603), both in `validate --strict` and in `hftkb add --summary`."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace

import pytest
from contrib_helpers import install_replay, make_kb

from hftkb.cli import main
from hftkb.validate import load_corpus
from hftkb.completeness import MIN_COPIED_WORDS, completeness, copied_run, missing_fields

COMPLETE = """\
id: full-2024
title: 'Full: A Complete Defense Record'
authors:
  - Ada Fixture
  - Bo Example
date: 2024-01-02
venue:
  name: neurips
  year: 2024
kind: defense
stage: alignment
identifiers:
  arxiv: '2401.00001'
links:
  - kind: code
    url: https://github.com/example/full
summary: >-
  A fabricated record that has every field strict asks for.
mechanism: Fabricated mechanism.
needs:
  - alignment_data
cost:
  paid: once
relations:
  - type: compares_to
    target: bare-2024
results:
  - metric: harmful_score
    value: 10.0
    model: llama-2-7b
    task: sst2
    table: Table 1
    baseline: 30.0
added: 2024-02-01
"""

BARE = """\
# a comment line before the record
id: bare-2024
title: 'Bare: A Record With Only What The Schema Needs'
date: 2024-01-02
kind: defense
identifiers:
  arxiv: '2401.00002'
added: 2024-02-01
"""

ABSENT = """\
id: marked-2024
title: 'Marked: An Attack Whose Gaps Are Marked Absent'
authors: [Ada Fixture]
date: 2024-01-02
venue: {name: arxiv, track: preprint}
kind: attack
attack_type: harmful_data
identifiers: {arxiv: '2401.00003'}
summary: A fabricated attack record.
absent:
  code: no public code
  mechanism: fabricated reason
  needs: fabricated reason
  cost: fabricated reason
  relations: fabricated reason
  results: fabricated reason
added: 2024-02-01
"""


def run_cli(*args: str) -> SimpleNamespace:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def test_strict_reports_missing_fields_at_the_record_start(tmp_path, monkeypatch):
    monkeypatch.setenv("HFTKB_ARXIV_CACHE", str(tmp_path / "empty-cache"))
    kb = make_kb(tmp_path / "kb", {"full-2024": COMPLETE, "bare-2024": BARE, "marked-2024": ABSENT})
    plain = run_cli("validate", "--kb", str(kb))
    assert plain.returncode == 0 and "W6" not in plain.stdout  # without --strict: unchanged, incomplete is valid

    result = run_cli("validate", "--kb", str(kb), "--strict")
    assert result.returncode == 1
    bare = kb / "papers" / "bare-2024.yaml"
    warnings = [line for line in result.stdout.splitlines() if ": W6" in line]
    assert warnings == [
        f"{bare}:2: W601 incomplete record: no authors, summary, venue, code (add it, or list it under `absent:` with the reason)",
        f"{bare}:2: W602 incomplete defense: no stage, mechanism, needs, cost, relations, results (add it, or list it under `absent:` with the reason)",
    ]
    assert "0 error(s), 2 completeness warning(s) (W6xx) in 1 file(s)" in result.stderr
    # The completeness table: present + marked absent / applicable.
    table = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line.startswith("  ")}
    assert table["authors"][:5] == ["2", "+", "0", "/", "3"]
    assert table["code"][:5] == ["1", "+", "1", "/", "3"]
    assert table["stage"][:5] == ["1", "+", "0", "/", "2"]
    assert table["results+baseline"][:5] == ["1", "+", "0", "/", "3"]

    github = run_cli("validate", "--kb", str(kb), "--strict", "--format", "github")
    assert f"::warning file={bare},line=2,title=W601::incomplete record" in github.stdout


def test_strict_passes_on_complete_and_marked_records(tmp_path, monkeypatch):
    monkeypatch.setenv("HFTKB_ARXIV_CACHE", str(tmp_path / "empty-cache"))
    full = COMPLETE.replace("target: bare-2024", "target: marked-2024")
    kb = make_kb(tmp_path / "kb", {"full-2024": full, "marked-2024": ABSENT})
    result = run_cli("validate", "--kb", str(kb), "--strict")
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1].startswith("hftkb validate --strict: ok (2 papers")
    corpus = load_corpus(kb)
    assert [missing_fields(p) for p in corpus.papers.values()] == [[], []]
    # Dropping one field of the complete record makes it incomplete again: the check can fail.
    (kb / "papers" / "full-2024.yaml").write_text(full.replace("mechanism: Fabricated mechanism.\n", ""))
    again = run_cli("validate", "--kb", str(kb), "--strict")
    assert again.returncode == 1 and "W602 incomplete defense: no mechanism (" in again.stdout


def test_errors_and_warnings_are_counted_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("HFTKB_ARXIV_CACHE", str(tmp_path / "empty-cache"))
    kb = make_kb(tmp_path / "kb", {"bare-2024": BARE.replace("kind: defense", "kind: defence")})
    result = run_cli("validate", "--kb", str(kb), "--strict")
    assert result.returncode == 1
    assert "E304" in result.stdout and "W601" in result.stdout
    assert "1 error(s), 1 completeness warning(s) (W6xx)" in result.stderr


def test_copied_run_threshold():
    abstract = "We show that one two three four five six seven eight nine ten eleven twelve words are copied here."
    words = "one two three four five six seven eight nine ten eleven twelve".split()
    assert MIN_COPIED_WORDS == 12
    eleven = "Our summary says " + " ".join(words[:11]) + " and then something else."
    twelve = "Our summary says " + " ".join(words).upper().replace("SIX", "six,") + " and more."
    assert copied_run(eleven, abstract) is None
    assert copied_run(twelve, abstract) == "ONE TWO THREE FOUR FIVE six SEVEN EIGHT NINE TEN ELEVEN TWELVE"
    assert copied_run("", abstract) is None


def _cache(tmp_path, arxiv_id: str, abstract: str):
    cache = tmp_path / "cache"
    cache.mkdir(exist_ok=True)
    answer = {"arxiv_id": arxiv_id, "version": 1, "title": "T", "authors": ["A B"], "published": "2024-01-01",
              "updated": "2024-01-01", "summary": abstract}
    (cache / f"{arxiv_id}.json").write_text(json.dumps(answer))
    return cache


def test_strict_reports_a_summary_copied_from_the_cached_abstract(tmp_path, monkeypatch):
    abstract = ("Harmful fine-tuning breaks alignment. We propose to re-weight the loss of each example by its "
                "distance to refusal data, which keeps the harmful score low on every model we test.")
    monkeypatch.setenv("HFTKB_ARXIV_CACHE", str(_cache(tmp_path, "2401.00003", abstract)))
    copied = ABSENT.replace("summary: A fabricated attack record.",
                            "summary: It proposes to re-weight the loss of each example by its distance to refusal data, a fabricated idea.")
    kb = make_kb(tmp_path / "kb", {"marked-2024": copied})
    result = run_cli("validate", "--kb", str(kb), "--strict")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        f"{kb / 'papers' / 'marked-2024.yaml'}:9: W603 summary copies 13 consecutive words of the arXiv abstract: "
        "\"to re-weight the loss of each example by its distance to refusal data\" (write it in your own words)"
    )
    assert run_cli("validate", "--kb", str(kb)).returncode == 0  # not a schema error
    (kb / "papers" / "marked-2024.yaml").write_text(ABSENT)
    assert run_cli("validate", "--kb", str(kb), "--strict").returncode == 0


def test_add_refuses_a_summary_copied_from_the_abstract(monkeypatch, tmp_path, capsys):
    install_replay(monkeypatch, tmp_path)
    kb = make_kb(tmp_path / "kb")
    copied = ("This paper proposes a fabricated defense that re-weights the fine-tuning loss of every example by its "
              "distance to a set of refusal demonstrations.")
    assert main(["add", "--kb", str(kb), "arxiv:2501.00005", "--kind", "defense", "--summary", copied]) == 1
    err = capsys.readouterr().err
    assert "W603 summary copies 20 consecutive words of the arXiv abstract: \"a fabricated defense that" in err
    assert list((kb / "papers").glob("*.yaml")) == []

    own = "Weights each fine-tuning example by how far it is from refusal examples. Fabricated, for a test."
    assert main(["add", "--kb", str(kb), "arxiv:2501.00005", "--kind", "defense", "--stage", "fine_tuning",
                 "--summary", own]) == 0
    out = capsys.readouterr().out
    assert "still missing for `hftkb validate --strict`: venue, code, mechanism" not in out  # venue defaults to arXiv
    assert "still missing for `hftkb validate --strict`: code, mechanism, needs, cost, relations, results" in out
    paper = next(iter(load_corpus(kb).papers.values()))
    assert paper.summary == own
    # The abstract is now in the cache that `add` filled: strict compares against it (no W603 here).
    strict = run_cli("validate", "--kb", str(kb), "--strict")
    assert "W603" not in strict.stdout and "W602" in strict.stdout


def test_completeness_counts_the_corpus_records(tmp_path):
    kb = make_kb(tmp_path / "kb", {"full-2024": COMPLETE, "bare-2024": BARE})
    counts = {c.field: c for c in completeness(list(load_corpus(kb).papers.values()))}
    assert (counts["summary"].present, counts["summary"].applies) == (1, 2)
    assert counts["attack_type"].applies == 0 and counts["attack_type"].share == 1.0
    assert counts["results+baseline"].present == 1


def strict_problems(kb) -> list[tuple[str, int]]:
    from hftkb.strict import check_completeness

    return [(p.code, p.line) for p in check_completeness(load_corpus(kb), abstracts=lambda paper: None)]


def test_absent_may_explain_an_optional_identifier_but_not_contradict_the_record(tmp_path):
    arxiv_absent = ABSENT.replace("  code: no public code\n", "  code: no public code\n  openreview: not on OpenReview\n")
    kb = make_kb(tmp_path / "kb", {"marked-2024": arxiv_absent})
    assert load_corpus(kb).problems == [] and strict_problems(kb) == []
    (kb / "papers" / "marked-2024.yaml").write_text(ABSENT.replace("  code: no public code\n", "  arxiv: not on arXiv\n"))
    # It has identifiers.arxiv (E604), and without `code` under absent it lacks a code link (W601).
    assert strict_problems(kb) == [("W601", 1), ("E604", 11)]
    assert load_corpus(kb).problems == []  # plain `validate` is unchanged: --strict reports these
    result = run_cli("validate", "--kb", str(kb), "--strict")
    assert "E604 absent.arxiv: the record has arxiv, yet lists it as absent: remove one of them" in result.stdout
    assert "1 error(s), 1 completeness warning(s)" in result.stderr


def test_absent_with_an_unknown_name_is_an_error(tmp_path):
    kb = make_kb(tmp_path / "kb", {"marked-2024": ABSENT.replace("  code: no public code\n", "  cod: no public code\n")})
    assert ("E605", 11) in strict_problems(kb)
    result = run_cli("validate", "--kb", str(kb), "--strict")
    assert "E605 absent.cod: 'cod' is not a field the record can mark absent (did you mean 'code'?)" in result.stdout
    github = run_cli("validate", "--kb", str(kb), "--strict", "--format", "github")
    assert "::error file=" in github.stdout and ",title=E605::" in github.stdout


@pytest.mark.parametrize("name,several", [
    ("Tiansheng Huang", False), ("Huang, Tiansheng", False), ("Martin Luther King, Jr.", False),
    ("Anne-Marie van der Berg", False), ("Andrea Anderson", False),
    ("Tiansheng Huang, Sihao Hu", True), ("T. Huang and S. Hu", True), ("Huang; Hu", True), ("A, B, C", True),
])
def test_author_item_with_several_names(name, several):
    from hftkb.records import _holds_several_names

    assert _holds_several_names(name) is several


@pytest.mark.parametrize("name", ["et al.", "Tiansheng Huang et al.", "others", "and others", "et al"])
def test_truncated_author_lists(tmp_path, name):
    record = BARE.replace("kind: defense\n", f"kind: defense\nauthors:\n  - Ada Fixture\n  - {name}\n")
    kb = make_kb(tmp_path / "kb", {"bare-2024": record})
    problems = load_corpus(kb).problems
    assert [(p.code, p.line) for p in problems] == [("E208", 8)], problems
