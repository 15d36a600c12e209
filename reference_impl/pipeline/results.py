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


def write_results(rows: list[dict], out_dir: str | Path, command: str, name: str = "results") -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(results_document(rows, command), indent=1) + "\n")
    (out / f"{name}.md").write_text(markdown_table(rows))
    return path
