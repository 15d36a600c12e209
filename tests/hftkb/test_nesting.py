"""The nesting limit (E114): a record nested far deeper than any real one is a located error everywhere.

Issue 24: a 2.4 KB record nested about 1,200 levels deep (`notes: [[[[...]]]]`) stopped `hftkb validate`
with "internal error ... RecursionError" and reported nothing else. The loader now counts the depth while it
reads the parser's events (hftkb.yamlio.MAX_DEPTH) and stops at the first collection past it.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from hftkb.yamlio import MAX_DEPTH, LoadError, parse_yaml

from test_checks import VALID, make_kb, run_cli

DEEP = VALID.format(id="deep-2024", title="Deep") + "notes: " + "[" * 1200 + "]" * 1200 + "\n"
DEEP_LINE = 6  # the `notes:` line of DEEP


def _kb_with_deep_record(root: Path) -> Path:
    kb = make_kb(root)
    (kb / "papers" / "deep-2024.yaml").write_text(DEEP)
    # A second broken record: the deep one must not hide the other problems of the knowledge base.
    (kb / "papers" / "other-2024.yaml").write_text(VALID.format(id="other-2024", title="Other").replace("kind: defense", "kind: nonsense"))
    return kb


def test_depth_at_the_limit_loads_and_one_more_is_located() -> None:
    # MAX_DEPTH levels in all: the top mapping, the `notes` list, and MAX_DEPTH - 2 lists inside it.
    inner = MAX_DEPTH - 2
    data, _ = parse_yaml("id: a\nnotes: " + "[" * (inner + 1) + "x" + "]" * (inner + 1) + "\n")
    value = data["notes"]
    for _ in range(inner + 1):
        value = value[0]
    assert value == "x"
    with pytest.raises(LoadError) as caught:
        parse_yaml("id: a\nnotes: " + "[" * (inner + 2) + "]" * (inner + 2) + "\n", "x.yaml")
    [problem] = caught.value.problems
    assert (problem.path, problem.line, problem.code) == ("x.yaml", 2, "E114")


def test_deep_mappings_in_block_style_are_located_too() -> None:
    lines = ["id: a", "notes:"] + ["  " * (depth + 1) + "k:" for depth in range(MAX_DEPTH + 5)]
    with pytest.raises(LoadError) as caught:
        parse_yaml("\n".join(lines) + " 1\n", "x.yaml")
    [problem] = caught.value.problems
    assert problem.code == "E114" and problem.line == MAX_DEPTH + 2  # the mapping at depth d starts on line d + 1


def test_a_megabyte_of_brackets_is_refused_quickly() -> None:
    # Parsing deep flow collections costs libyaml time growing with the square of the depth: the loader
    # stops at the limit instead of reading the whole file (this took minutes before it stopped early).
    depth = 500_000
    started = time.perf_counter()
    with pytest.raises(LoadError) as caught:
        parse_yaml("notes: " + "[" * depth + "]" * depth + "\n", "x.yaml")
    assert time.perf_counter() - started < 10
    assert [p.code for p in caught.value.problems] == ["E114"]


def test_validate_locates_it_and_reports_the_rest(tmp_path: Path) -> None:
    kb = _kb_with_deep_record(tmp_path)
    result = run_cli("validate", "--kb", str(kb))
    assert result.returncode == 1
    assert "internal error" not in result.stderr and "RecursionError" not in result.stderr
    assert f"{kb / 'papers' / 'deep-2024.yaml'}:{DEEP_LINE}: E114 " in result.stdout
    assert f"{kb / 'papers' / 'other-2024.yaml'}:4: E304 " in result.stdout  # the other record still checked
    assert "2 problem(s) in 2 file(s)" in result.stderr


def test_pull_request_check_annotates_it(tmp_path: Path) -> None:
    # The pull-request workflow runs `validate --format github` and `validate --strict --format github`.
    kb = _kb_with_deep_record(tmp_path)
    for strict in ([], ["--strict"]):
        result = run_cli("validate", "--kb", str(kb), "--format", "github", *strict)
        assert result.returncode == 1 and "internal error" not in result.stderr
        annotation = f"::error file={kb / 'papers' / 'deep-2024.yaml'},line={DEEP_LINE},col={8 + MAX_DEPTH - 1},title=E114::"  # the first bracket past the limit
        assert annotation in result.stdout, result.stdout


def test_site_build_refuses_with_the_located_error(tmp_path: Path) -> None:
    kb = _kb_with_deep_record(tmp_path)
    result = run_cli("build", "--kb", str(kb), "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and "internal error" not in result.stderr
    assert f"{kb / 'papers' / 'deep-2024.yaml'}:{DEEP_LINE}: E114 " in result.stdout
    assert "nothing built" in result.stderr and not (tmp_path / "out").exists()


def test_site_hooks_refuse_with_the_located_error(tmp_path: Path) -> None:
    # `mkdocs build` / `mkdocs serve` reach the records through the hooks (hftkb.site.generate), not `hftkb build`.
    from hftkb.site.generate import SiteBuildError, make_context

    kb = _kb_with_deep_record(tmp_path)
    with pytest.raises(SiteBuildError) as caught:
        make_context(kb)
    assert f"deep-2024.yaml:{DEEP_LINE}: E114 " in str(caught.value)
