"""`hftkb faq` end to end through the CLI, and `hftkb validate` on FAQ records with broken references."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hftkb.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys, *argv):
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_faq_prints_the_best_entry_with_its_answer_and_evidence(capsys):
    code, out, err = run_cli(capsys, "faq", "--kb", ROOT, "why not filter the harmful data?")
    assert code == 0, err
    first_line = out.splitlines()[0]
    assert first_line.startswith("1. ") and first_line.endswith("[why-not-moderation-filter]")
    assert "7.71%" in out  # the full answer of the best entry is printed
    assert "Evidence:" in out
    assert "Virus: Harmful Fine-tuning Attack" in out  # evidence is shown with the paper's title
    assert out.count("\n2. ") == 1 and out.count("\n3. ") == 1  # --top defaults to 3


def test_faq_question_may_be_given_unquoted(capsys):
    code, out, _ = run_cli(capsys, "faq", "--kb", ROOT, "--top", "1", "lora", "or", "full", "fine-tuning")
    assert code == 0
    assert out.splitlines()[0].endswith("[lora-vs-full-finetuning]")
    assert "\n2. " not in out


def test_faq_json_for_scripts(capsys):
    code, out, _ = run_cli(capsys, "faq", "--kb", ROOT, "--json", "--top", "2", "who is responsible for the fine-tuned model?")
    assert code == 0
    data = json.loads(out)
    assert data["question"] == "who is responsible for the fine-tuned model?"
    assert [r["rank"] for r in data["results"]] == [1, 2]
    best = data["results"][0]
    assert best["id"] == "faas-threat-realistic"
    assert best["score"] > data["results"][1]["score"]
    assert "responsible" in best["matched"]
    assert len(best["evidence"]) >= 2
    assert all(item["title"] for item in best["evidence"])  # every cited paper resolves to a record
    assert best["short_answer"] and best["answer"] and best["related"]


def test_faq_without_a_match_says_so_and_exits_1(capsys):
    code, out, err = run_cli(capsys, "faq", "--kb", ROOT, "zebra quokka")
    assert code == 1
    assert out == ""
    assert "no FAQ entry matches 'zebra quokka'" in err
    assert "Traceback" not in err

    code, out, _ = run_cli(capsys, "faq", "--kb", ROOT, "--json", "zebra quokka")
    assert code == 1
    assert json.loads(out)["results"] == []


def test_faq_bad_arguments_are_one_line_errors(capsys, tmp_path):
    code, _, err = run_cli(capsys, "faq", "--kb", ROOT, "--top", "0", "lora")
    assert code == 2 and err.strip() == "error: --top must be at least 1, not 0"

    code, _, err = run_cli(capsys, "faq", "--kb", ROOT, "  ")
    assert code == 2 and err.strip() == "error: the question is empty"

    code, _, err = run_cli(capsys, "faq", "--kb", tmp_path, "lora")
    assert code == 2 and err.strip() == f"error: no FAQ entries found in {tmp_path / 'faq'}"


# ---------------------------------------------------------------------------------------------------------
# Validation of FAQ records (the checks live in hftkb.checks; these tests pin the behaviour the FAQ relies on)

PAPER = """id: {id}
title: A fabricated paper {id}
date: 2024-01-02
kind: defense
added: 2026-11-23
"""

ENTRY = """id: {id}
question: Is this a fabricated question?
short_answer: Yes, for the test.
answer: A longer fabricated answer for the test.
evidence:
  - paper: paper-one-2024
    shows: Something.
  - paper: {second}
    shows: Something else.
related:
  - {related}
"""


def make_kb(tmp_path: Path, second: str = "paper-two-2024", related: str = "other-entry") -> Path:
    kb = tmp_path / "kb"
    shutil.copytree(ROOT / "taxonomy", kb / "taxonomy")
    (kb / "papers").mkdir()
    (kb / "faq").mkdir()
    for paper_id in ("paper-one-2024", "paper-two-2024"):
        (kb / "papers" / f"{paper_id}.yaml").write_text(PAPER.format(id=paper_id), encoding="utf-8")
    (kb / "faq" / "an-entry.yaml").write_text(ENTRY.format(id="an-entry", second=second, related=related), encoding="utf-8")
    (kb / "faq" / "other-entry.yaml").write_text(ENTRY.format(id="other-entry", second="paper-two-2024", related="an-entry"), encoding="utf-8")
    return kb


def test_validate_accepts_a_faq_whose_references_resolve(capsys, tmp_path):
    code, out, err = run_cli(capsys, "validate", "--kb", make_kb(tmp_path))
    assert code == 0, out + err
    assert "2 FAQ entries" in out


def test_validate_names_file_line_and_code_of_an_evidence_paper_that_does_not_exist(capsys, tmp_path):
    kb = make_kb(tmp_path, second="no-such-paper-2099")
    code, out, err = run_cli(capsys, "validate", "--kb", kb)
    assert code == 1
    lines = ENTRY.splitlines()
    expected_line = next(i for i, line in enumerate(lines, 1) if "{second}" in line)
    assert f"{kb / 'faq' / 'an-entry.yaml'}:{expected_line}: E310 " in out
    assert "'no-such-paper-2099' is not a paper in the knowledge base" in out
    assert "Traceback" not in out + err


def test_validate_reports_a_related_entry_that_does_not_exist(capsys, tmp_path):
    kb = make_kb(tmp_path, related="no-such-entry")
    code, out, _ = run_cli(capsys, "validate", "--kb", kb)
    assert code == 1
    expected_line = next(i for i, line in enumerate(ENTRY.splitlines(), 1) if "{related}" in line)
    assert f"{kb / 'faq' / 'an-entry.yaml'}:{expected_line}: E311 " in out


def test_validate_rejects_an_entry_with_a_single_evidence_paper(capsys, tmp_path):
    kb = make_kb(tmp_path)
    text = (kb / "faq" / "an-entry.yaml").read_text(encoding="utf-8")
    text = text.replace("  - paper: paper-two-2024\n    shows: Something else.\n", "")
    (kb / "faq" / "an-entry.yaml").write_text(text, encoding="utf-8")
    code, out, _ = run_cli(capsys, "validate", "--kb", kb)
    assert code == 1
    assert str(kb / "faq" / "an-entry.yaml") in out and "evidence" in out
