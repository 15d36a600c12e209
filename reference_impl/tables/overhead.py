"""The overhead tables of `make bench` (bench/bench_overhead.py): per model, each method's time and memory
against SFT's step (training-time methods) or against its reference (post-fine-tuning methods)."""

from __future__ import annotations


def overhead_table(data: dict) -> str:
    """The tables of `overhead.json`: one table per model, headed by the model and the machine."""
    blocks = []
    for model in dict.fromkeys(row["model"] for row in data["rows"]):
        rows = [row for row in data["rows"] if row["model"] == model]
        lines = [
            f"{model} — {rows[0]['machine']}:",
            "",
            "| method | time (s) | × reference | peak memory (MB) | × SFT | target |",
            "|---|--:|--:|--:|--:|---|",
        ]
        for row in rows:
            verdict = {True: "met", False: "missed", None: "–"}[row.get("within_target")]
            if "step_time_s" in row:
                target = "reference (1 forward + 1 backward)" if row["method"] == "sft" else (
                    "–" if row["target_time_ratio"] is None else f"≤ {row['target_time_ratio']}× SFT step: {verdict}")
                cells = [f"{row['step_time_s']:.4f} per step", f"{row['step_time_ratio']:.2f}",
                         f"{row['peak_mem_mb']:.1f}", f"{row['peak_mem_ratio']:.2f}", target]
            elif "time_ratio" in row:
                target = f"≤ {row['target_time_ratio']:g}× {row['reference']} ({row['reference_time_s']:.4f} s): {verdict}"
                cells = [f"{row['time_s']:.4f} {row.get('time_unit', 'in all')}", f"{row['time_ratio']:.2f}", "–", "–", target]
            else:
                cells = [f"{row['time_s']:.4f} in all", "–", "–", "–", f"< {row.get('target_time_s', 1.0):g} s: {verdict}"]
            lines.append("| " + " | ".join([row["method"]] + cells) + " |")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)
