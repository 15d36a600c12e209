"""Results files: `<name>.json` (machine, date, command, rows) and its Markdown table, and the README table.

`python -m reference_impl table reference_impl/results/miniature_world.json` prints the README's results table
from the committed JSON (`readme_table`); tests/reference_impl/test_results.py checks the README holds exactly
that between its `<!-- results:miniature_world -->` markers.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path


def results_document(rows: list[dict], command: str) -> dict:
    return {"machine": machine_description(), "date": dt.date.today().isoformat(), "command": command, "rows": rows}


def machine_description() -> str:
    try:
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    except Exception:  # pragma: no cover - torch is always there when this runs
        device = "unknown"
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {device}, {platform.system()} {platform.release()}"


COLUMNS = [("method", "method"), ("stage", "stage"), ("harmful_ratio", "p"), ("hs", "HS %"), ("hs_plus", "HS+ %"),
           ("refusal_rate", "refusals %"), ("fa", "FA %"), ("benign_answered", "benign answered %")]


def markdown_table(rows: list[dict]) -> str:
    columns = [(k, title) for k, title in COLUMNS if any(k in r for r in rows)]
    lines = ["| " + " | ".join(t for _, t in columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for r in rows:
        lines.append("| " + " | ".join("" if r.get(k) is None else str(r.get(k)) for k, _ in columns) + " |")
    return "\n".join(lines) + "\n"


def write_results(rows: list[dict], out_dir: str | Path, command: str, name: str = "results",
                  copy: str | Path | None = None, failures: list[str] | None = None) -> Path:
    """`out_dir/<name>.json` and its `.md` table; with `copy` (a command's --results FILE) the same pair again as
    that file's folder/stem. `failures`: one line per run that did not finish, kept in the document. Returns the
    first JSON's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    document = results_document(rows, command)
    if failures:
        document["failures"] = failures
    path.write_text(json.dumps(document, indent=1) + "\n")
    (out / f"{name}.md").write_text(markdown_table(rows))
    if copy:
        copy = Path(copy)
        write_results(rows, copy.parent, command, name=copy.stem, failures=failures)
        print(f"results also in {copy}")
    return path


def readme_table(path: str | Path) -> str:
    """The README table of a committed results file: a defense-by-attack matrix (matrix.py) when its rows name more
    than one attack, the SmolLM2 table (experiments/smollm2.py) for that testbed's rows, the per-setting table for a
    file whose rows name a `setting` (ablation, second world), else the defense-by-ratio table (miniature_world.py)."""
    from ..experiments.miniature_world import ablation_table, markdown_table as world_table

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{path}: cannot read: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not JSON: {error.msg}") from None
    if isinstance(data, dict) and isinstance(data.get("runs"), list) and "guardrail" in data:  # experiments.virus_filter
        from ..experiments.virus_filter import filter_table

        return filter_table(data)
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path}: no `rows` list (a results file holds machine, date, command, rows)")
    missing = [i for i, row in enumerate(rows) if not {"method", "harmful_ratio", "hs", "fa"} <= set(row)]
    if missing:
        raise ValueError(f"{path}: row {missing[0]} lacks method / harmful_ratio / hs / fa")
    if all("attack" in row for row in rows) and len({row["attack"] for row in rows}) > 1:  # a `matrix` file
        from ..matrix import matrix_table

        stopped = "".join(f"\n* did not run: {line}" for line in data.get("failures", []))
        return matrix_table(rows) + f"\n{data.get('machine', '')}, {data.get('date', '')}; `{data.get('command', '')}`\n" \
            + (stopped[1:] + "\n" if stopped else "")
    if all(row.get("testbed") == "smollm2_135m" for row in rows):
        from ..experiments.smollm2 import table

        return table(data)
    return ablation_table(data) if all("setting" in row for row in rows) else world_table(data)


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
