"""`python -m reference_impl matrix CONFIG --methods ... --attacks ...`: every defense against every attack.

    python -m reference_impl matrix reference_impl/configs/miniature_world.yaml --methods all --attacks all \\
        --results reference_impl/results/matrix_miniature_world.json
    python -m reference_impl matrix CONFIG --methods sft,vaccine --attacks mixture,virus --attack-set virus.steps=5

Each (method, attack) pair is one pipeline run of CONFIG with `method=M` and `finetune.attack=A` (plus `--set`
overrides for all pairs and `--attack-set ATTACK.FIELD=VALUE` for one attack's Config). All configs are checked
before anything trains. The runs share one run directory, so the stage hashes reuse what pairs have in common: a
method's alignment stage is trained once for all attacks, an attack's rows (Virus's optimisation) are built once
for all methods, and plain-SFT fine-tuning on one attack's rows is shared by the methods that do not change it.
One results file: a row per pair (its final model) naming `method`, `attack`, `testbed`, `seed`, with HS and FA.
With `--set evaluation.aligned=true` it also keeps the model before fine-tuning, asked the same way (the control an
attack's own query prompt needs: the prompt alone may raise HS), once per distinct model: the rows of `sft` (the
aligned model every non-alignment-stage defense starts from), `non_aligned` (the base model) and each
alignment-stage defense (its own aligned model), with `stage` "aligned" or "base".
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from .tables.matrix import matrix_cells


def split_names(text: str, known, what: str) -> list[str]:
    names = list(known) if text == "all" else [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"--{what}: unknown {', '.join(unknown)} (known: {', '.join(known)})")
    if not names:
        raise ValueError(f"--{what}: no names given")
    return names


def attack_overrides(items: list[str], attacks) -> dict[str, list[str]]:
    """--attack-set virus.steps=5 -> {"virus": ["finetune.attack_config.steps=5"]}."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        attack, dot, field = key.partition(".")
        if not sep or not dot or not field:
            raise ValueError(f"--attack-set {item}: expected ATTACK.FIELD=VALUE")
        if attack not in attacks:
            raise ValueError(f"--attack-set {item}: unknown attack {attack!r} (known: {', '.join(attacks)})")
        out.setdefault(attack, []).append(f"finetune.attack_config.{field}={value}")
    return out


def cmd_matrix(args) -> int:
    from .attacks import ATTACKS
    from .common.config import ConfigError
    from .pipeline import is_main_process, write_results
    from .registry import METHODS
    from .runs import load_run_config, run_many

    try:
        methods = split_names(args.methods, METHODS, "methods")
        attacks = split_names(args.attacks, ATTACKS, "attacks")
        per_attack = attack_overrides(args.attack_set, attacks)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    pairs = []
    for attack in attacks:  # attack-major: an attack's rows are built once, then every method trains on them
        for method in methods:
            try:
                config = load_run_config(args.config, args.overrides + [f"finetune.attack={attack}"] + per_attack.get(attack, []), method)
            except ConfigError as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
            pairs.append(config)
    out = Path(args.out or Path("runs") / f"matrix-{Path(args.config).stem}")
    started = time.time()

    def pair_rows(config, result):
        method, attack = config["method"], config["finetune"]["attack"]
        rows = []
        if owns_model_before_fine_tuning(METHODS[method]):
            rows += [{**r, "method": method, "attack": attack} for r in result if r["stage"] != "final"]
        final = next(r for r in result if r["stage"] == "final")
        return rows + [{**final, "method": method, "attack": attack, "seed": config["seed"]}]  # final names its testbed

    rows, failures = run_many(pairs, out, keep=pair_rows)  # Ctrl-C: the pairs that finished, the rest named
    if not is_main_process():
        return 1 if failures else 0
    command = "python -m reference_impl " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    path = write_results(rows, out, command, name="matrix", copy=args.results, failures=[str(f) for f in failures],
                         kind="matrix")
    print(matrix_cells(rows), end="")
    print(f"{len(pairs)} runs in {time.time() - started:.0f}s; results: {path}")
    return 1 if failures else 0


def owns_model_before_fine_tuning(method) -> bool:
    """Whether this method's model before fine-tuning is one no other method in the matrix shares: the defenses of
    the fine-tuning and post-fine-tuning stages start from plain SFT's aligned model, so `sft`'s row stands for it."""
    return method.name in ("sft", "non_aligned") or method.stage == "alignment"


def add_parser(sub) -> None:
    matrix = sub.add_parser("matrix", help="every method x every attack; one results file with method and attack per row")
    matrix.add_argument("config")
    matrix.add_argument("--methods", default="all", help="comma-separated method names, or 'all' (default)")
    matrix.add_argument("--attacks", default="all", help="comma-separated attack names, or 'all' (default)")
    matrix.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    matrix.add_argument("--attack-set", dest="attack_set", action="append", default=[], metavar="ATTACK.FIELD=VALUE",
                        help="override one attack's Config field, e.g. virus.steps=5 (repeatable)")
    matrix.add_argument("--out", default=None, help="run directory (default: runs/matrix-<config name>)")
    matrix.add_argument("--results", default=None, help="also write the results JSON here (+ .md next to it)")
