"""The defenses in the miniature world: every registered method at p = 0, 0.05, 0.1 and 0.2 and training seeds
43-45, one HS/FA table (means over the seeds, HS with its range); SFT also in world seeds 1 and 2, the nine
(world seed, training seed) pairs that calibrate world v2 (issue 11).

    python -m reference_impl.experiments.miniature_world --run    # run everything, write the results, print the table
    python -m reference_impl.experiments.miniature_world          # the table of the committed results
    python -m reference_impl.experiments.miniature_world --calibration   # SFT per (world seed, seed) pair, targets
    python -m reference_impl.experiments.miniature_world --ablation --run   # defense strength: post-fine-tuning
                                                       # settings over the seeds, Vaccine rho and Booster lambda
    python -m reference_impl.experiments.miniature_world --second-world --run   # key settings in world seed 1
    python -m reference_impl.experiments.miniature_world --run --seeds 43  # one seed (~15 min on one core)
    python -m reference_impl.experiments.miniature_world --run --methods lox,tar   # re-run some methods; the
                                                       # other methods' rows in the results file are kept

Each (method, p) is one pipeline run of `reference_impl/configs/miniature_world.yaml` (exactly what
`python -m reference_impl run CONFIG --method M --set finetune.harmful_ratio=P` does), with the method's paper
defaults except where the config's `method_configs` says otherwise and why (so the documented `run` command
gives the table's row). Finished stages are reused from `runs/sweep-defenses`
(SFT alignment is shared by sft, lisa, antidote and safe_lora; SFT fine-tuning by sft, antidote and safe_lora),
so a re-run after changing one defense only re-trains what that defense changes. The rows go to
`reference_impl/results/miniature_world_v2.json` (world v2; `miniature_world.json` holds the v1 world's table that
the measured-results page shows; a test checks that the page holds exactly that text).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from reference_impl.tables import render, render_file

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "reference_impl" / "results" / "miniature_world_v2.json"
V1_RESULTS = ROOT / "reference_impl" / "results" / "miniature_world.json"  # the v1 world's table
OUT = ROOT / "runs" / "sweep-defenses"
ABLATION_RESULTS = ROOT / "reference_impl" / "results" / "miniature_world_ablation.json"
RATIOS = (0.0, 0.05, 0.1, 0.2)
#: Training seeds of the main table (LoRA init and data order; the world itself is fixed by world.seed). One seed
#: is not enough here: another LoRA init alone moves SFT's HS at p = 0.05 a lot (the table's HS ranges show by how much).
SEEDS = (43, 44, 45)
#: World seeds of the calibration (SFT only): world v2's targets must hold in each world, not just in world 0.
WORLD_SEEDS = (0, 1, 2)
#: How hard the post-fine-tuning defenses must act to undo the attack at p = 0.1, and what it costs in FA.
#: The world's fine-tuning LoRA has 14 layers (2 decoder layers x 7 projections), so 14 = every layer.
ABLATION = {
    "antidote": [["method_config.dense_ratio=%s" % r] for r in ("0.1", "0.2", "0.3", "0.5")],
    "safe_lora": [["method_config.num_proj_layers=%d" % n] for n in (4, 10, 12, 14)]
    + [["method_config.mode=threshold", "method_config.threshold=0.5"]],
    # The alignment-stage defenses' defaults (Vaccine rho = 2, Booster lambda = 5) never give a refusing model here:
    # does each work once its strength is scaled to a 64-wide model? (its alignment is shared across p)
    "vaccine": [["method_config.rho=%s" % rho, "finetune.harmful_ratio=%s" % p]
                for rho in ("0.1", "0.5") for p in ("0.0", "0.05", "0.1")],
    "booster": [["method_config.lam=%s" % lam, "finetune.harmful_ratio=%s" % p]
                for lam in ("0.01", "0.05", "0.2", "1") for p in ("0.0", "0.05", "0.1")],
}

def run_all(methods: list[str], ratios: tuple[float, ...], out: Path, extra: list[str],
            seeds: tuple[int, ...] = (None,), world_seeds: tuple[int, ...] = (0,)) -> tuple[list[dict], list[str]]:
    """Run every (seed, method, p) in world seed 0, and SFT in every world seed of `world_seeds` (with the aligned
    model's row at p = 0); returns the result rows and one line per run that stopped. A seed of None keeps the
    config's own. Per-method settings come from the config's `method_configs`, as for `run CONFIG --method M`."""
    from reference_impl.runs import WORLD_CONFIG, run_many

    configs = []
    for world in world_seeds:  # check every config before training anything
        for seed in seeds:
            for method in methods if world == world_seeds[0] else [m for m in methods if m == "sft"]:
                for ratio in ratios:
                    overrides = [f"world.seed={world}", f"method={method}", f"finetune.harmful_ratio={ratio}"] + extra
                    overrides += [] if seed is None else [f"seed={seed}"]
                    overrides += ["evaluation.aligned=true"] if method == "sft" and ratio == 0 else []
                    configs.append(_config(WORLD_CONFIG, overrides))
    # The rows so far go to rows-so-far.json after each run, in case a long sweep is stopped (a re-run reuses
    # every finished stage anyway).
    rows, failures = run_many(configs, out, keep=lambda config, result: [r for r in result if r["stage"] in ("final", "aligned")],
                              progress=out / "rows-so-far.json")
    return rows, [str(f) for f in failures]


def _config(path, overrides: list[str]) -> dict:
    from reference_impl.common.config import ConfigError
    from reference_impl.runs import load_run_config

    try:
        return load_run_config(path, overrides)
    except ConfigError as error:
        raise SystemExit(f"error: {error}") from None


SECOND_WORLD_RESULTS = ROOT / "reference_impl" / "results" / "miniature_world_seed1.json"
#: The same check in a second world (another vocabulary split and base model), over the main table's training
#: seeds: are the findings bound to world 0?
SECOND_WORLD = {
    "sft": [[]],
    "antidote": [[], ["method_config.dense_ratio=0.3"]],
    "safe_lora": [[], ["method_config.num_proj_layers=14"]],
}


#: Every ablation setting runs over the main table's training seeds: one seed hides how much a setting depends on
#: the init. Post-fine-tuning settings cost no training (they reuse the seeds' SFT fine-tuning); Vaccine's and
#: Booster's need one alignment per setting and seed (minutes each on one core).
ABLATION_SEEDS = {"antidote": SEEDS, "safe_lora": SEEDS, "vaccine": SEEDS, "booster": SEEDS}


def run_ablation(out: Path, extra: list[str], ratio: float = 0.1, plan: dict | None = None,
                 seeds: dict | None = None) -> tuple[list[dict], list[str]]:
    """Each setting of `plan` (default ABLATION) at p = `ratio`, unless the setting names its own
    finetune.harmful_ratio (SFT alignment and fine-tuning are shared), for each of the method's `seeds`."""
    from reference_impl.runs import WORLD_CONFIG, run_many

    configs, settings = [], {}
    for method, variants in (plan or ABLATION).items():
        for variant, seed in ((v, s) for v in variants for s in (seeds or {}).get(method, (None,))):
            overrides = [f"method={method}", f"finetune.harmful_ratio={ratio}"] + variant + extra
            overrides += [] if seed is None else [f"seed={seed}"]
            configs.append(_config(WORLD_CONFIG, overrides))
            settings[id(configs[-1])] = ", ".join(v.removeprefix("method_config.") for v in variant
                                                  if not v.startswith("finetune.harmful_ratio=")) or "defaults"

    def finals(config, result):
        return [{**row, "setting": settings[id(config)]} for row in result if row["stage"] == "final"]

    rows, failures = run_many(configs, out, keep=finals)
    return rows, [str(f) for f in failures]


def calibration_table(data: dict) -> str:
    """SFT per (world seed, training seed): the aligned model, then HS/FA at each p, and what misses world v2's
    targets (`world.calibration_misses`)."""
    from reference_impl.testbeds.miniature_world import HS_BANDS, calibration_misses

    pairs: dict[tuple, dict] = {}
    for row in data["rows"]:
        if row["method"] == "sft":
            pair = pairs.setdefault((row.get("world_seed", 0), row.get("seed")), {"aligned": None, "finals": []})
            if row["stage"] == "aligned":
                pair["aligned"] = row
            else:
                pair["finals"].append(row)
    header = ["world", "seed", "aligned HS/FA"] + [f"p={p:g} HS/FA" for p in HS_BANDS] + ["misses"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["--:"] * (len(header) - 1)) + "|---|"]
    for (world, seed), pair in sorted(pairs.items(), key=lambda item: str(item[0])):
        by_ratio = {r["harmful_ratio"]: r for r in pair["finals"]}
        aligned = pair["aligned"]
        cells = [str(world), str(seed), "–" if aligned is None else f"{aligned['hs']:g} / {aligned['fa']:g}"]
        cells += [f"{by_ratio[p]['hs']:g} / {by_ratio[p]['fa']:g}" if p in by_ratio else "–" for p in HS_BANDS]
        misses = calibration_misses(aligned, pair["finals"])
        cells.append("; ".join(misses) if misses else "none")
        lines.append("| " + " | ".join(cells) + " |")
    held = sum(1 for pair in pairs.values() if not calibration_misses(pair["aligned"], pair["finals"]))
    return "\n".join(lines) + f"\n\nTargets held in {held} of {len(pairs)} pairs.\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_impl.experiments.miniature_world",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--run", action="store_true", help="run every method at every ratio and seed first (~15 min per seed, 1 core)")
    parser.add_argument("--ablation", action="store_true", help="the post-fine-tuning ablation instead of the main table")
    parser.add_argument("--second-world", action="store_true",
                        help="sft / antidote / safe_lora (defaults and the ablation's working setting) in world seed 1")
    parser.add_argument("--methods", default="all", help="comma-separated subset (default: all registered)")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)),
                        help="training seeds of the main table, comma-separated (default: %(default)s)")
    parser.add_argument("--world-seeds", default=",".join(map(str, WORLD_SEEDS)),
                        help="world seeds SFT runs in (the calibration; other methods: the first), default %(default)s")
    parser.add_argument("--calibration", action="store_true",
                        help="print the SFT calibration table (per world seed and training seed) of the results")
    parser.add_argument("--out", default=str(OUT), help="run directory (finished stages are reused)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra config override for every run (the results file records the command)")
    args = parser.parse_args(argv)
    command = "python -m reference_impl.experiments.miniature_world " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    if args.ablation or args.second_world:
        from reference_impl.pipeline import results_document

        target = ABLATION_RESULTS if args.ablation else SECOND_WORLD_RESULTS
        if args.run:
            extra = args.overrides if args.ablation else ["world.seed=1"] + args.overrides
            out = Path(args.out) if args.ablation else Path(args.out).with_name("sweep-defenses-world1")
            rows, failures = run_ablation(out, extra, plan=ABLATION if args.ablation else SECOND_WORLD,
                                          seeds=ABLATION_SEEDS if args.ablation else dict.fromkeys(SECOND_WORLD, SEEDS))
            document = results_document(rows, command.strip(), kind="settings")
            document["failures"] = failures
            target.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        print(render_file(target), end="")
        return 0
    if args.run:
        from reference_impl.pipeline import results_document
        from reference_impl.registry import METHODS

        methods = list(METHODS) if args.methods == "all" else args.methods.split(",")
        from reference_impl.common.config import load_config
        from reference_impl.runs import WORLD_CONFIG, merge_commands, merge_rows, read_document

        seeds = tuple(int(s) for s in args.seeds.split(","))
        world_seeds = tuple(int(s) for s in args.world_seeds.split(","))
        started = time.time()
        rows, failures = run_all(methods, RATIOS, Path(args.out), args.overrides, seeds, world_seeds)
        document = results_document(rows, command.strip(), kind="defense_by_ratio")
        previous = read_document(RESULTS) if args.methods != "all" else None
        if previous is not None:  # a subset re-run keeps the other methods' rows and commands
            document["rows"] = merge_rows(previous, rows, replaces=lambda row: row["method"] in methods)
            document["command"] = merge_commands(previous, command.strip())
        method_configs = load_config(WORLD_CONFIG, args.overrides)["method_configs"]
        kept_settings = {} if previous is None else previous.get("settings", {})
        kept_settings = {m: value for m, value in kept_settings.items() if m not in methods}
        document["settings"] = {**kept_settings, **{m: method_configs[m] for m in methods if m in method_configs}}
        document["failures"] = failures
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        print(f"{len(rows)} rows in {time.time() - started:.0f}s -> {RESULTS}", file=sys.stderr)
        if failures:
            print(f"{len(failures)} run(s) stopped (listed in the results file)", file=sys.stderr)
    data = json.loads(RESULTS.read_text(encoding="utf-8"))
    print(calibration_table(data) if args.calibration else render(data, str(RESULTS)), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
