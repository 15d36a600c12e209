"""Does the upload filter stop Virus? (experiments/virus_filter.py): flagged counts per upload kind and run."""

from __future__ import annotations


def filter_table(document: dict) -> str:
    """Per upload kind: rows, flagged, passed and the guardrail's mean flag probability, one block per run (lambda)."""
    lines = []
    for run in document["runs"]:
        config = run["attack_config"]
        lines += [f"lambda {config['lam']}, {config['steps']} GCG steps, {config['candidates']} candidates per step:", "",
                  "| upload | rows | flagged | passed | mean p(flag) |", "|---|--:|--:|--:|--:|"]
        for kind, label in (("plain_harmful", "plain harmful rows"), ("mixing", "benign row + harmful suffix"), ("virus", "Virus rows")):
            r = run[kind]
            lines.append(f"| {label} | {r['rows']} | {r['flagged']} | {r['passed']} | {r['mean_p_flag']} |")
        lines.append("")
    return "\n".join(lines) + f"\n{document['testbed']}; guardrail: {document['guardrail']}; {document['machine']}, " \
                              f"{document['date']}; `{document['command']}`\n"
