"""The defense-by-attack matrix (`python -m reference_impl matrix`): method rows, attack columns, "HS / FA" cells."""

from __future__ import annotations

from .cells import measured_by


def row_label(row: dict) -> str:
    """The table's row name: the method, or the method's model before fine-tuning (`evaluation.aligned`)."""
    stage = row.get("stage", "final")
    return row["method"] if stage == "final" else f"{row['method']}, {stage} (not fine-tuned)"


def matrix_cells(rows: list[dict]) -> str:
    """Defense rows, attack columns, "HS / FA" cells."""
    methods = list(dict.fromkeys(row_label(r) for r in rows))
    attacks = list(dict.fromkeys(r["attack"] for r in rows))
    cell = {(row_label(r), r["attack"]): f"{r['hs']} / {r['fa']}" for r in rows}
    lines = ["| method | " + " | ".join(f"{a} HS / FA" for a in attacks) + " |", "|---" * (len(attacks) + 1) + "|"]
    for m in methods:
        lines.append(f"| {m} | " + " | ".join(cell.get((m, a), "") for a in attacks) + " |")
    return "\n".join(lines) + "\n"


def matrix_table(document: dict) -> str:
    """The matrix, where its numbers come from, and a line per pair that did not run."""
    stopped = "".join(f"\n* did not run: {line}" for line in document.get("failures", []))
    return matrix_cells(document["rows"]) + f"\n{measured_by(document)}\n" + (stopped[1:] + "\n" if stopped else "")
