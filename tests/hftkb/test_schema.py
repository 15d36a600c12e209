"""`hftkb schema`: the committed papers/_schema.json matches the models; `--check` catches staleness (E402)."""

from __future__ import annotations

import json
import io
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace
from pathlib import Path

from hftkb.cli import main

from hftkb.commands.schema import paper_schema_text

REPO = Path(__file__).resolve().parents[2]


def hftkb(*args: str) -> SimpleNamespace:
    """Run the CLI in-process (fast); returns returncode, stdout and stderr like subprocess.run."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def test_committed_schema_is_current() -> None:
    assert (REPO / "papers" / "_schema.json").read_text(encoding="utf-8") == paper_schema_text()


def test_schema_describes_the_record() -> None:
    schema = json.loads(paper_schema_text())
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"id", "title", "date", "kind", "added"}
    assert schema["$defs"]["Identifiers"]["properties"]["arxiv"]["anyOf"][0]["type"] == "string"


def test_check_fails_on_stale_or_missing_schema_and_write_fixes_it(tmp_path: Path) -> None:
    (tmp_path / "papers").mkdir()
    missing = hftkb("schema", "--check", "--kb", str(tmp_path))
    assert missing.returncode == 1 and missing.stdout.startswith(f"{tmp_path}/papers/_schema.json:1: E402")
    (tmp_path / "papers" / "_schema.json").write_text("{}\n")
    assert "E402 JSON Schema is stale" in hftkb("schema", "--check", "--kb", str(tmp_path)).stdout
    assert hftkb("schema", "--kb", str(tmp_path)).returncode == 0
    assert hftkb("schema", "--check", "--kb", str(tmp_path)).returncode == 0


def test_every_record_declares_the_schema() -> None:
    for path in sorted((REPO / "papers").glob("*.yaml")):
        assert path.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=_schema.json\n"), path.name
