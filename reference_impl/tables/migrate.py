"""Give results documents from before the tables seam their `kind` (re-apply after a merge brings old files).

    python -m reference_impl.tables.migrate                      # every reference_impl/results/*.json
    python -m reference_impl.tables.migrate FILE [FILE ...] [--check]

The kind is what the old `readme_table` guessed from the rows (this is the one place that guess survives): a file
with `runs` and a `guardrail` is an upload filter; rows naming more than one attack a matrix; SmolLM2's rows its
per-run table; rows naming a `setting` an ablation; overhead rows (`model` and `machine`, no `harmful_ratio`) the
bench's; everything else methods x harmful ratios. `kind` goes first; the rest of the file is kept byte for byte
in meaning (same indent). `--check`: exit 1 if some file still lacks its kind.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results"


def guess_kind(document: dict) -> str:
    if isinstance(document.get("runs"), list) and "guardrail" in document:
        return "upload_filter"
    rows = document.get("rows") or []
    if rows and all("attack" in row for row in rows) and len({row["attack"] for row in rows}) > 1:
        return "matrix"
    if rows and all(row.get("testbed") == "smollm2_135m" for row in rows):
        return "method_rows"
    if rows and all("setting" in row for row in rows):
        return "settings"
    if rows and all({"model", "machine"} <= set(row) and "harmful_ratio" not in row for row in rows):
        return "overhead"
    return "defense_by_ratio"


def indent_of(text: str) -> int:
    second = text.split("\n", 2)[1] if "\n" in text else ""
    return len(second) - len(second.lstrip(" ")) or 1


def migrate(path: Path, write: bool = True) -> str | None:
    """The kind given to `path` (None when it had one)."""
    text = path.read_text(encoding="utf-8")
    document = json.loads(text)
    if not isinstance(document, dict) or "kind" in document:
        return None
    kind = guess_kind(document)
    if write:
        path.write_text(json.dumps({"kind": kind, **document}, indent=indent_of(text), ensure_ascii="\\u" in text) + "\n",
                        encoding="utf-8")
    return kind


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_impl.tables.migrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file lacks its kind")
    args = parser.parse_args(argv)
    missing = 0
    for path in args.files or sorted(RESULTS.glob("*.json")):
        kind = migrate(path, write=not args.check)
        if kind is not None:
            missing += 1
            print(f"{path}: {'lacks a kind (would be ' + kind + ')' if args.check else 'kind ' + kind}")
    return 1 if args.check and missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
