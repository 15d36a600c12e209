"""`hftkb validate --format github` (annotations on the changed line) and the pull-request plumbing around it:
the workflow, the pre-commit hooks and the issue form run and ask what CONTRIBUTING.md says they do."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import yaml
from contrib_helpers import VACCINE, make_kb

from hftkb.cli import main
from hftkb.problems import Problem

REPO = Path(__file__).resolve().parents[2]


def test_problem_as_github_annotation():
    problem = Problem("papers/x.yaml", 7, "E304", "kind: 'atack' is not a term (50% sure)\nsecond line", 3)
    assert problem.format("github") == (
        "::error file=papers/x.yaml,line=7,col=3,title=E304::kind: 'atack' is not a term (50%25 sure)%0Asecond line"
    )
    # A whole-file problem (line 0) still points at a line GitHub can show.
    assert Problem("papers/x.yaml", 0, "E104", "empty file").format("github").startswith("::error file=papers/x.yaml,line=1,")


def test_property_values_are_escaped():
    # ',' or ':' in a file name would end the property early and misplace the annotation.
    line = Problem("papers/a,b:c.yaml", 2, "E105", "bad").format("github")
    assert line.startswith("::error file=papers/a%2Cb%3Ac.yaml,line=2,title=E105::")


def test_validate_format_github_points_at_the_line(tmp_path, monkeypatch, capsys):
    bad = VACCINE.replace("kind: defense", "kind: defence")
    kb = make_kb(tmp_path / "kb", {"vaccine-2024": bad})
    monkeypatch.chdir(kb)  # as in CI: run from the repository root, paths relative to it
    assert main(["validate", "--format", "github"]) == 1
    out = capsys.readouterr().out.splitlines()
    line = next(number for number, text in enumerate(bad.splitlines(), 1) if text.startswith("kind:"))
    assert out == [
        f"::error file=papers/vaccine-2024.yaml,line={line},col=7,title=E304::kind: 'defence' is not a term of "
        "taxonomy/kinds.yaml (did you mean 'defense'?)"
    ]
    assert main(["validate"]) == 1
    assert capsys.readouterr().out.startswith(f"papers/vaccine-2024.yaml:{line}: E304 kind: 'defence'")


def test_validate_format_rejects_unknown_style(capsys):
    try:
        main(["validate", "--format", "junit"])
    except SystemExit as exit_:
        assert exit_.code == 2
    assert "invalid choice: 'junit'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------
# The workflow and the local hooks run the same checks


def _workflow_commands() -> list[str]:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    return [step["run"].strip() for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]


def test_workflow_runs_validate_fmt_schema_and_tests():
    commands = _workflow_commands()
    for expected in (".venv/bin/hftkb validate --format github", ".venv/bin/hftkb validate --strict --format github",
                     ".venv/bin/hftkb fmt --check",
                     ".venv/bin/hftkb schema --check", "make test"):
        assert expected in commands, f"{expected!r} missing from .github/workflows/ci.yml"
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    assert "pull_request" in workflow[True]  # PyYAML reads the key `on` as True


def test_pre_commit_runs_the_same_checks():
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    entries = {hook["entry"] for hook in hooks}
    assert {".venv/bin/hftkb validate", ".venv/bin/hftkb fmt --check", ".venv/bin/hftkb schema --check", "make test"} <= entries
    assert all(hook["language"] == "system" for hook in hooks)
    for hook in hooks:  # each `files` pattern must match the files its check reads
        if "files" in hook:
            assert any(re.search(hook["files"], path) for path in ("papers/vaccine-2024.yaml", "hftkb/models.py"))


def test_make_targets_used_by_ci_exist():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^test:", makefile, flags=re.MULTILINE)


def test_issue_form_options_are_taxonomy_terms():
    form = yaml.safe_load((REPO / ".github" / "ISSUE_TEMPLATE" / "suggest-paper.yml").read_text(encoding="utf-8"))
    fields = {item.get("id"): item for item in form["body"] if item.get("id")}
    assert {"link", "kind", "stage", "why"} <= set(fields)
    assert fields["link"]["validations"]["required"] and fields["why"]["validations"]["required"]
    for field, vocabulary in (("kind", "kinds"), ("stage", "stages")):
        terms = {term["id"] for term in yaml.safe_load((REPO / "taxonomy" / f"{vocabulary}.yaml").read_text(encoding="utf-8"))}
        options = [o for o in fields[field]["attributes"]["options"] if "not sure" not in o]
        assert set(options) == terms, f"the form's {field} options drifted from taxonomy/{vocabulary}.yaml"


def test_contributing_first_screen_is_the_two_minute_path():
    text = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    first_screen = "\n".join(text.splitlines()[:40])
    for step in ("make setup", ".venv/bin/hftkb add arxiv:", "--kind", "--stage", "summary", "hftkb validate", "pull request"):
        assert step in first_screen, f"{step!r} is not on the first screen of CONTRIBUTING.md"
    assert textwrap.dedent(text).count("```") % 2 == 0  # code fences are closed
