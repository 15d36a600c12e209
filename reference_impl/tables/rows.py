"""One line per result row: `run`'s table, and SmolLM2's table of its runs (method, stage, p, HS, FA)."""

from __future__ import annotations

from ..common.metrics import METRICS

#: The order of SmolLM2's table: SFT, the non-aligned baseline, the five first defenses, the fine-tuning-stage ones.
METHOD_ORDER = ("non_aligned", "sft", "vaccine", "booster", "lisa", "antidote", "safe_lora",
                "ldifs", "ewc", "kl", "constrained_sft", "safety_mixing", "backdoor_align", "ptst")

COLUMNS = [("method", "method"), ("stage", "stage"), ("harmful_ratio", "p")] + [(m.key, m.label) for m in METRICS]


def runs_table(document: dict) -> str:
    """Every row with the columns some row has."""
    rows = document["rows"]
    columns = [(k, title) for k, title in COLUMNS if any(k in r for r in rows)]
    lines = ["| " + " | ".join(t for _, t in columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for r in rows:
        lines.append("| " + " | ".join("" if r.get(k) is None else str(r.get(k)) for k, _ in columns) + " |")
    return "\n".join(lines) + "\n"


def method_rows_table(document: dict) -> str:
    """Method rows in the order of METHODS (others after), p, HS, FA, with the command that made them."""
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    rows = sorted(document["rows"], key=lambda r: (order.get(r["method"], len(order)), r["stage"] != "aligned",
                                                    r.get("harmful_ratio") or 0))
    lines = ["| method | stage | p | HS | FA |", "|---|---|---|---|---|"]
    for r in rows:
        p = "" if r["stage"] == "aligned" else r["harmful_ratio"]
        lines.append(f"| {r['method']} | {r['stage']} | {p} | {r['hs']} | {r['fa']} |")
    seeds = sorted({r["seed"] for r in rows if r.get("seed") is not None})
    seed_text = f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}" if seeds else "seed not recorded"
    return "\n".join(lines) + f"\n\nSmolLM2-135M-Instruct, {seed_text}; {document['machine']}, {document['date']}; " \
                              f"`{document['command']}`\n"
