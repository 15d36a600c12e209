"""The miniature world's tables: methods x harmful ratios (the papers' layout) and one line per setting."""

from __future__ import annotations

from .cells import mean as _mean, spread as _spread


def by_ratio_table(data: dict) -> str:
    """HS and FA per method and harmful ratio with their averages (the papers' layout), then the refusal rates.

    With several training seeds a cell is the mean over seeds, and an HS cell adds the seeds' range in brackets
    (min–max): the spread is part of the result in a world this small."""
    from ..registry import METHODS

    first_world = min((r.get("world_seed", 0) for r in data["rows"]), default=0)
    rows = [r for r in data["rows"] if r.get("stage", "final") == "final" and r.get("world_seed", 0) == first_world]
    ratios = sorted({r["harmful_ratio"] for r in rows})
    header = ["method", "stage"] + [f"{kind} p={ratio:g}" for ratio in ratios for kind in ("HS", "FA")] + ["avg HS", "avg FA"]
    refusal_header = ["method"] + [f"refusals p={ratio:g}" for ratio in ratios]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + ["--:"] * (len(header) - 2)) + "|"]
    refusals = ["| " + " | ".join(refusal_header) + " |", "|---|" + "|".join(["--:"] * len(ratios)) + "|"]
    for name, method in METHODS.items():
        found: dict[float, list[dict]] = {}
        for r in rows:
            if r["method"] == name:
                found.setdefault(r["harmful_ratio"], []).append(r)
        if not found:
            continue
        cells = [name, method.stage if method.paper else "baseline"]
        for ratio in ratios:
            runs = found.get(ratio)
            cells += ["–", "–"] if runs is None else [_spread([r["hs"] for r in runs]), _mean([r["fa"] for r in runs])]
        present = [r for runs in found.values() for r in runs]
        cells += [_mean([r["hs"] for r in present]), _mean([r["fa"] for r in present])]
        lines.append("| " + " | ".join(cells) + " |")
        refusals.append("| " + " | ".join([name] + [_mean([r.get("refusal_rate") for r in found[p]]) if p in found else "–"
                                                     for p in ratios]) + " |")
    seeds = sorted({r.get("seed") for r in rows}, key=str)
    note = f"Mean over training seeds {', '.join(map(str, seeds))}; HS cells add [min–max] over them.\n\n" if len(seeds) > 1 else ""
    return note + "\n".join(lines) + "\n\n" + "\n".join(refusals) + "\n"


def settings_table(data: dict) -> str:
    """One line per (method, setting, p), in the file's order; over several seeds, means and the HS range."""
    groups: dict[tuple, list[dict]] = {}
    for row in data["rows"]:
        groups.setdefault((row["method"], row["setting"], row["harmful_ratio"]), []).append(row)
    lines = ["| method | setting | p | seeds | HS | FA | refusals |", "|---|---|--:|--:|--:|--:|--:|"]
    for (method, setting, ratio), runs in groups.items():
        lines.append(f"| {method} | {setting} | {ratio:g} | {len(runs)} | {_spread([r['hs'] for r in runs])} | "
                     f"{_mean([r['fa'] for r in runs])} | {_mean([r.get('refusal_rate') for r in runs])} |")
    return "\n".join(lines) + "\n"
