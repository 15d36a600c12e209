"""The tables seam: a results document names its `kind`; `KINDS` maps the kind to its renderer.

Every table of a committed results file, in the README, on the site's pages and from `python -m reference_impl
table FILE`, is `render(document)`: nothing guesses a file's kind from the shape of its rows. Plain Python (no
torch), so the site can import it. A new kind of results file = a renderer in this package + one line in `KINDS`.

Documents written before kinds existed get theirs from `python -m reference_impl.tables.migrate` (kept so that it
can be re-applied to files that arrive in a merge).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

#: kind -> ("module:function" of its renderer in this package, fields every row must have).
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "runs": ("rows:runs_table", ("method",)),  # `run` / `demo`: one line per result row
    "defense_by_ratio": ("world:by_ratio_table", ("method", "harmful_ratio", "hs", "fa")),  # methods x harmful ratios
    "settings": ("world:settings_table", ("method", "setting", "harmful_ratio", "hs", "fa")),  # ablations
    "method_rows": ("rows:method_rows_table", ("method", "stage", "hs", "fa")),  # SmolLM2: one line per run
    "matrix": ("matrix:matrix_table", ("method", "attack", "hs", "fa")),  # defense x attack
    "upload_filter": ("upload_filter:filter_table", ()),  # Virus against the guardrail (no rows: runs)
    "overhead": ("overhead:overhead_table", ("method", "model", "machine")),  # make bench
    "world_stability": ("stability:stability_table", ("seed", "harmful_ratio", "hs", "fa")),  # SFT over seeds
}


def renderer(kind: str):
    module, function = KINDS[kind][0].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)


def render(document: dict, source: str = "<document>") -> str:
    """The Markdown table(s) of a results document, by its kind; ValueError naming `source` when it cannot."""
    if not isinstance(document, dict):
        raise ValueError(f"{source}: not a results document (a JSON object with kind, machine, date, command, rows)")
    kind = document.get("kind")
    if kind is None:
        raise ValueError(f"{source}: no `kind` (one of {', '.join(KINDS)}); files from before kinds: "
                         "python -m reference_impl.tables.migrate FILE")
    if kind not in KINDS:
        raise ValueError(f"{source}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
    fields = KINDS[kind][1]
    if fields:
        rows = document.get("rows")
        if not isinstance(rows, list) or not rows:
            raise ValueError(f"{source}: no `rows` list (a results file holds kind, machine, date, command, rows)")
        for i, row in enumerate(rows):
            missing = [f for f in fields if f not in row]
            if missing:
                raise ValueError(f"{source}: row {i} lacks {' / '.join(missing)} (a {kind} row has {' / '.join(fields)})")
    return renderer(kind)(document)


def read(path: str | Path) -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{path}: cannot read: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not JSON: {error.msg}") from None


def render_file(path: str | Path) -> str:
    return render(read(path), str(path))


def marked_block(text: str, name: str) -> str | None:
    """The text between `<!-- results:NAME -->` and `<!-- /results:NAME -->` (None without the markers)."""
    start, end = f"<!-- results:{name} -->\n", f"<!-- /results:{name} -->"
    if start not in text or end not in text:
        return None
    return text.split(start, 1)[1].split(end, 1)[0]


def replace_marked(path: str | Path, name: str, table: str) -> None:
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    old = marked_block(text, name)
    if old is None:
        raise ValueError(f"{path}: no <!-- results:{name} --> ... <!-- /results:{name} --> markers")
    path.write_text(text.replace(f"<!-- results:{name} -->\n{old}", f"<!-- results:{name} -->\n{table}", 1), encoding="utf-8")
