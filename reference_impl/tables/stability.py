"""The world-stability table (issue 28 item 6): SFT's spread over training seeds, per harmful ratio.

Rows of `reference_impl/benchmark/world_stability.py`'s document: one line per ratio of the committed setting and
of each candidate setting, with the seeds' HS values, their span, the lowest FA and the targets met or missed.
"""

from __future__ import annotations


def _lines(label: str, ratios: list[dict]) -> list[str]:
    out = []
    for ratio in ratios:
        hs = ", ".join(f"{v:g}" for v in ratio["hs"])
        targets = "; ".join(
            f"{name}: {'met' if check['met'] else 'missed by ' + format(check['by'], 'g')}"
            for name, check in ratio.get("targets", {}).items()
        )
        out.append(f"| {label} | {ratio['harmful_ratio']:g} | {len(ratio['seeds'])} | {hs} | {ratio['hs_span']:g} "
                   f"| {ratio['fa_min']:g} | {targets} |")
    return out


def stability_table(document: dict) -> str:
    lines = ["| setting | p | seeds | HS per seed | HS span | min FA | targets |", "|---|--:|--:|---|--:|--:|---|"]
    lines += _lines("as committed", document["ratios"])
    for candidate in document.get("candidates", []):
        lines += _lines(candidate["label"], candidate["ratios"])
    met = "all targets met" if document.get("all_targets_met") else "not every target met"
    return "\n".join(lines) + (f"\n\nSFT, {document['testbed']}, world seed(s) {document['world_seed']}: {met}; "
                               f"{document['machine']}, {document['date']}.\n")
