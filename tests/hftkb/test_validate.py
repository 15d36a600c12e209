"""`hftkb validate` and the CLI around it: exit codes, summary, output formats, no tracebacks."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace
from pathlib import Path

from hftkb.cli import build_parser, discover_commands, main
from hftkb.problems import Problem

REPO = Path(__file__).resolve().parents[2]


def hftkb(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hftkb.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_committed_kb_is_clean() -> None:
    result = hftkb("validate", cwd=REPO)  # default --kb: the current directory
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("hftkb validate: ok (") and result.stdout.count("\n") == 1


def hftkb_fast(*args: str) -> SimpleNamespace:
    """Run the CLI in-process (fast); returns returncode, stdout and stderr like subprocess.run."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def test_problems_then_summary_and_exit_1(tmp_path: Path) -> None:
    shutil.copytree(REPO / "taxonomy", tmp_path / "taxonomy")
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "a-2024.yaml").write_text("id: a-2024\ntitle: A\ndate: 2024-01-01\nkind: defence\nadded: 2024-01-02\n")
    result = hftkb_fast("validate", "--kb", str(tmp_path))
    assert result.returncode == 1
    assert result.stdout == f"{tmp_path}/papers/a-2024.yaml:4: E304 kind: 'defence' is not a term of taxonomy/kinds.yaml (did you mean 'defense'?)\n"
    assert "1 problem(s) in 1 file(s)" in result.stderr
    github = hftkb_fast("validate", "--kb", str(tmp_path), "--format", "github")
    assert github.stdout.startswith(f"::error file={tmp_path}/papers/a-2024.yaml,line=4,col=7,title=E304::kind: 'defence'")


def test_missing_kb_directory_is_one_line(tmp_path: Path) -> None:
    result = hftkb_fast("validate", "--kb", str(tmp_path / "nowhere"))
    assert result.returncode == 1 and "E101 knowledge base directory not found" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_problem_format_styles() -> None:
    problem = Problem("papers/x.yaml", 3, "E202", "unknown key 'a%b'", 5)
    assert problem.format() == "papers/x.yaml:3: E202 unknown key 'a%b'"
    assert problem.format("github") == "::error file=papers/x.yaml,line=3,col=5,title=E202::unknown key 'a%25b'"


def test_every_command_module_is_discovered_and_gets_kb() -> None:
    commands = discover_commands()
    assert {"validate", "fmt", "schema", "import-awesome"} <= set(commands)
    parser = build_parser(commands)
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, module in commands.items():
        if isinstance(module, Exception):
            continue
        options = {o for action in subparsers[name]._actions for o in action.option_strings}
        assert "--kb" in options, name
        assert module.HELP.strip(), f"{name} has no HELP"
    args = parser.parse_args(["validate", "--kb", "somewhere"])
    assert str(args.kb) == "somewhere"


def test_unexpected_exception_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    from hftkb import cli
    from hftkb.commands import validate

    def boom(args):
        raise RuntimeError("something broke")

    monkeypatch.setattr(validate, "run", boom)
    monkeypatch.delenv("HFTKB_DEBUG", raising=False)
    assert cli.main(["validate", "--kb", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error in 'validate': RuntimeError: something broke" in err


def test_kb_commands_and_options_are_documented() -> None:
    """datasette habit: adding an option without documenting it fails here. The knowledge-base reference page (moved
    out of the README, which links to it) or CONTRIBUTING.md must name every command and option."""
    page = (REPO / "site" / "reference" / "knowledge-base.md").read_text(encoding="utf-8")
    section = page[page.index("<!-- section:kb -->"):page.index("<!-- /section:kb -->")]
    section += (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    parser = build_parser(discover_commands())
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name in ("validate", "fmt", "schema", "import-awesome"):
        assert f"hftkb {name}" in section, name
        for action in subparsers[name]._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert option in section, f"{name} {option} is not documented in site/reference/knowledge-base.md"
    assert "--kb DIR" in section


def test_readme_counts_are_the_stats_command_output(capsys) -> None:
    """The README's figures of the corpus are `hftkb stats` output, never typed: regenerate with
    `hftkb stats --write README.md`."""
    from hftkb.cli import main

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- counts:kb -->\n", 1)[1].split("<!-- /counts:kb -->", 1)[0]
    assert main(["stats", "--kb", str(REPO)]) == 0
    assert block == capsys.readouterr().out, "README counts are stale: run hftkb stats --write README.md"
