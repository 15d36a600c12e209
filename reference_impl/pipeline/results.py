"""Results files: `<name>.json` (kind, machine, date, command, rows) and its Markdown table (tables/ renders both)."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path

from ..tables import render
from ..tables.rows import runs_table


def results_document(rows: list[dict], command: str, kind: str = "runs") -> dict:
    """`kind` names the table the document is read as (reference_impl/tables/KINDS)."""
    return {"kind": kind, "machine": machine_description(), "date": dt.date.today().isoformat(), "command": command,
            "rows": rows}


def machine_description() -> str:
    try:
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    except Exception:  # pragma: no cover - torch is always there when this runs
        device = "unknown"
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {device}, {platform.system()} {platform.release()}"


def markdown_table(rows: list[dict]) -> str:
    """One line per row (what `run` prints)."""
    return runs_table({"rows": rows})


def write_results(rows: list[dict], out_dir: str | Path, command: str, name: str = "results",
                  copy: str | Path | None = None, failures: list[str] | None = None, kind: str = "runs") -> Path:
    """`out_dir/<name>.json` and its `.md` table (one line per row); with `copy` (a command's --results FILE) the
    same pair again as that file's folder/stem. `failures`: one line per run that did not finish, kept in the
    document. Returns the first JSON's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    document = results_document(rows, command, kind)
    if failures:
        document["failures"] = failures
    path.write_text(json.dumps(document, indent=1) + "\n")
    (out / f"{name}.md").write_text(markdown_table(rows))
    if copy:
        copy = Path(copy)
        write_results(rows, copy.parent, command, name=copy.stem, failures=failures, kind=kind)
        print(f"results also in {copy}")
    return path


__all__ = ["machine_description", "markdown_table", "render", "results_document", "write_results"]
