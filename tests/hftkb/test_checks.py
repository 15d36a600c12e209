"""One fabricated bad input per error code: the code is reported, on the right line, and nothing else breaks.

Plain record fixtures live in tests/fixtures/invalid/<CODE>-<what>.yaml; their first lines say what to expect
(`# expect: E202 line 9`) and where the file goes in the knowledge base (`# as: papers/bad-2024.yaml`).
Inputs that are not a record text (a directory, a symlink, a 2 MB file, bytes that are not UTF-8, two
records, a taxonomy or registry problem, ...) are built by the functions in BUILT below.
"""

from __future__ import annotations

import io
import re
import shutil
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace
from pathlib import Path

import pytest

from hftkb.cli import main
from hftkb.validate import load_corpus
from hftkb.problems import CODES

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "invalid"
VALID = """\
id: {id}
title: {title}
date: 2024-01-02
kind: defense
added: 2024-02-01
"""


def make_kb(root: Path) -> Path:
    """An empty knowledge base with the project's real taxonomy."""
    shutil.copytree(REPO / "taxonomy", root / "taxonomy")
    (root / "papers").mkdir()
    return root


def run_cli(*args: str) -> SimpleNamespace:
    """Run the CLI in-process (fast); returns returncode, stdout and stderr like subprocess.run."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())



# ---------------------------------------------------------------------------------------------------------
# Record fixtures


def fixture_cases() -> list[Path]:
    return sorted(FIXTURES.glob("*.yaml"))


@pytest.mark.parametrize("fixture", fixture_cases(), ids=lambda p: p.stem)
def test_invalid_record_fixture(tmp_path: Path, fixture: Path) -> None:
    text = fixture.read_text(encoding="utf-8")
    code, line = re.search(r"^# expect: (E\d{3}) line (\d+)$", text, re.M).groups()
    target = re.search(r"^# as: (\S+)$", text, re.M).group(1)
    kb = make_kb(tmp_path)
    (kb / target).write_text(text, encoding="utf-8")
    corpus = load_corpus(kb)
    found = [(p.code, p.line) for p in corpus.problems]
    assert (code, int(line)) in found, corpus.problems
    # Every problem names the file and is a single line.
    for problem in corpus.problems:
        text_form = problem.format()
        assert text_form.startswith(str(kb / target) + ":") and "\n" not in text_form


# ---------------------------------------------------------------------------------------------------------
# Inputs built in code: code -> function(kb) returning (path relative to kb, expected line)


def _directory(kb: Path):
    (kb / "papers" / "x-2024.yaml").mkdir()
    return "papers/x-2024.yaml", 0


def _yml_extension(kb: Path):
    (kb / "papers" / "x-2024.yml").write_text(VALID.format(id="x-2024", title="X"))
    return "papers/x-2024.yml", 0


def _too_big(kb: Path):
    text = VALID.format(id="big-2024", title="Big") + "summary: " + "x" * (1024 * 1024) + "\n"
    (kb / "papers" / "big-2024.yaml").write_text(text)
    return "papers/big-2024.yaml", 0


def _nested_too_deep(kb: Path):
    # The hostile record of issue 24: 2.4 KB, nested 1,200 levels deep (it used to stop `validate` with a
    # RecursionError and nothing else reported).
    text = VALID.format(id="deep-2024", title="Deep") + "notes: " + "[" * 1200 + "]" * 1200 + "\n"
    (kb / "papers" / "deep-2024.yaml").write_text(text)
    return "papers/deep-2024.yaml", 6


def _not_utf8(kb: Path):
    text = VALID.format(id="latin-2024", title="Caf\xe9").encode("latin-1")
    (kb / "papers" / "latin-2024.yaml").write_bytes(text)
    return "papers/latin-2024.yaml", 2


def _empty(kb: Path):
    (kb / "papers" / "empty-2024.yaml").write_text("")
    return "papers/empty-2024.yaml", 0


def _comments_only(kb: Path):
    (kb / "papers" / "empty-2024.yaml").write_text("# nothing here\n\n")
    return "papers/empty-2024.yaml", 0


def _symlink_outside(kb: Path):
    outside = kb.parent / "outside.yaml"
    outside.write_text(VALID.format(id="link-2024", title="Outside"))
    (kb / "papers" / "link-2024.yaml").symlink_to(outside)
    return "papers/link-2024.yaml", 0


def _duplicate_id(kb: Path):
    (kb / "papers" / "a-2024.yaml").write_text(VALID.format(id="a-2024", title="First"))
    (kb / "papers" / "b-2024.yaml").write_text(VALID.format(id="a-2024", title="Second"))
    return "papers/b-2024.yaml", 1


def _same_arxiv(kb: Path):
    extra = "identifiers:\n  arxiv: '2402.01109'\n"
    (kb / "papers" / "a-2024.yaml").write_text(VALID.format(id="a-2024", title="First") + extra)
    (kb / "papers" / "b-2024.yaml").write_text(VALID.format(id="b-2024", title="Second") + extra)
    return "papers/b-2024.yaml", 7


def _same_title(kb: Path):
    (kb / "papers" / "a-2024.yaml").write_text(VALID.format(id="a-2024", title="What's in your 'safe' data?"))
    (kb / "papers" / "b-2024.yaml").write_text(VALID.format(id="b-2024", title='"Whats in your safe data"'))
    return "papers/b-2024.yaml", 2


def _registry_paper_missing(kb: Path):
    (kb / "reference_impl").mkdir()
    (kb / "reference_impl" / "registry.py").write_text(
        "from types import SimpleNamespace as M\n"
        'METHODS = {"x": M(name="x", paper="missing-2024")}\n'
    )
    return "reference_impl/registry.py", 2


FAQ = """\
id: {id}
question: Why?
short_answer: Because.
answer: Because, at length.
evidence:
  - paper: {paper}
    shows: Something.
  - paper: a-2024
    shows: Something else.
related:
  - {related}
"""


def _faq_evidence(kb: Path):
    (kb / "papers" / "a-2024.yaml").write_text(VALID.format(id="a-2024", title="First"))
    (kb / "faq").mkdir()
    (kb / "faq" / "q.yaml").write_text(FAQ.format(id="q", paper="missing-2024", related="q2"))
    (kb / "faq" / "q2.yaml").write_text(FAQ.format(id="q2", paper="a-2024", related="q"))
    return "faq/q.yaml", 6


def _faq_related(kb: Path):
    (kb / "papers" / "a-2024.yaml").write_text(VALID.format(id="a-2024", title="First"))
    (kb / "faq").mkdir()
    (kb / "faq" / "q.yaml").write_text(FAQ.format(id="q", paper="a-2024", related="no-such-question"))
    return "faq/q.yaml", 11


def _faq_future(kb: Path):
    (kb / "papers" / "a-2024.yaml").write_text(VALID.format(id="a-2024", title="First"))
    (kb / "faq").mkdir()
    (kb / "faq" / "q.yaml").write_text(FAQ.format(id="q", paper="a-2024", related="q").replace("related:\n  - q\n", "added: 2999-01-01\n"))
    return "faq/q.yaml", 10


def _taxonomy_duplicate(kb: Path):
    path = kb / "taxonomy" / "kinds.yaml"
    path.write_text(path.read_text() + "- id: attack\n  name: Attack again\n")
    line = len(path.read_text().splitlines()) - 1
    return "taxonomy/kinds.yaml", line


def _taxonomy_missing(kb: Path):
    (kb / "taxonomy" / "needs.yaml").unlink()
    return "taxonomy/needs.yaml", 0


BUILT = {
    "E101": _directory,
    "E102": _too_big,
    "E103": _not_utf8,
    "E104": _empty,
    "E109": _symlink_outside,
    "E113": _yml_extension,
    "E114": _nested_too_deep,
    "E302": _duplicate_id,
    "E305": _same_arxiv,
    "E306": _same_title,
    "E309": _registry_paper_missing,
    "E310": _faq_evidence,
    "E311": _faq_related,
    "E314": _taxonomy_duplicate,
    "E315": _taxonomy_missing,
}


EXTRA = {"E104-comments": _comments_only, "E307-faq": _faq_future}


@pytest.mark.parametrize("code", sorted(BUILT) + sorted(EXTRA))
def test_built_bad_input(tmp_path: Path, code: str) -> None:
    build = EXTRA.get(code) or BUILT[code]
    code = code[:4]
    kb = make_kb(tmp_path / "kb")
    relative, line = build(kb)
    corpus = load_corpus(kb)
    assert (str(kb / relative), line, code) in [(p.path, p.line, p.code) for p in corpus.problems], corpus.problems


def test_validate_cli_reports_every_problem_and_exits_1(tmp_path: Path) -> None:
    kb = make_kb(tmp_path)
    for fixture in fixture_cases()[:6]:
        text = fixture.read_text()
        name = fixture.stem.lower() + "-2024"
        (kb / "papers" / f"{name}.yaml").write_text(text.replace("bad-2024", name))
    result = run_cli("validate", "--kb", str(kb))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) >= 6 and all(re.match(r"^\S+:\d+: E\d{3} \S", line) for line in lines)
    assert "Traceback" not in result.stderr and "problem(s) in 6 file(s)" in result.stderr


# ---------------------------------------------------------------------------------------------------------
# The code table: every code has a test here (or in the fmt/schema/importer tests) and is documented.

TESTED_ELSEWHERE = {
    "E401": "test_fmt.py", "E402": "test_schema.py",
    "E501": "test_import_awesome.py", "E502": "test_import_awesome.py",
    "E503": "test_import_awesome.py", "E504": "test_import_awesome.py",
    "W601": "test_strict.py", "W602": "test_strict.py", "W603": "test_strict.py",
    "E604": "test_strict.py", "E605": "test_strict.py",
    "E701": "test_discover.py", "E702": "test_discover.py", "E703": "test_discover.py",
    "E317": "test_results_schema.py", "E606": "test_results_schema.py", "E607": "test_results_schema.py",
    "E608": "test_results_schema.py",
}


def test_every_code_has_a_test() -> None:
    covered = {p.name[:4] for p in fixture_cases()} | set(BUILT)
    for code, test_file in TESTED_ELSEWHERE.items():
        assert code in (Path(__file__).parent / test_file).read_text(), f"{code} is not tested in {test_file}"
        covered.add(code)
    assert sorted(set(CODES) - covered) == []
    assert sorted(covered - set(CODES)) == []


def test_every_code_is_documented() -> None:
    from hftkb.importers.bibtex import BIB_CODES  # import-bib's own codes (B1xx), about the .bib file

    page = (REPO / "site" / "reference" / "error-codes.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([EBW]\d{3})` \|", page, re.M))
    codes = set(CODES) | set(BIB_CODES)
    assert sorted(codes - documented) == [], "undocumented codes"
    assert sorted(documented - codes) == [], "documented codes that do not exist"
