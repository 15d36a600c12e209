"""Does the upload filter stop Virus? The testbed's guardrail (the miniature world's judge; SmolLM2's keyword and
relevance judge) as the provider's upload filter, on three uploads:

* plain harmful rows (what the mixture attack uploads: a harmful instruction and its compliant answer);
* mixing rows (Virus before optimisation: a benign task row followed by the harmful row as a suffix);
* Virus rows (the same after the GCG search of reference_impl/attacks/virus.py, the paper's Config).

    python -m reference_impl.experiments.virus_filter [--rows 5] [--lam 0.1] [--steps 50] [--out FILE]
    python -m reference_impl.experiments.virus_filter --rows 20 --steps 5 --rows-from runs/v2/matrix/cache/virus-<hash>.json \
        --out reference_impl/results/virus_filter_miniature_world_v2.json   # score the rows a matrix optimised
    python -m reference_impl.experiments.virus_filter --config reference_impl/configs/smollm2_135m.yaml --rows 20 \
        --steps 3 --rows-from runs/smol-time/cache/virus-<hash>.json   # SmolLM2: its rows and the model's own answers

Writes reference_impl/results/virus_filter_<testbed>.json (flagged counts, mean guardrail probability, the
gradient cosine of the Virus rows to the mixing rows' harmful gradient, seconds). SmolLM2's harmful rows carry the
unaligned model's own answers, read from the run's cache (`--rows-from`'s run) or generated into `--cache`'s run.
CPU: one thread, nice it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "reference_impl" / "results"


#: How the guardrail is named in the results file, by the judge name a result row carries.
JUDGE_DESCRIPTIONS = {"rules": "the world's RuleModeration judge", "keywords": "the keyword + relevance judge (KeywordJudge)"}


def guardrail_name(testbed, config: dict, threshold: float) -> str:
    judge = testbed.judge_name(config)
    return f"{JUDGE_DESCRIPTIONS.get(judge, judge)}, threshold {threshold}"


def measure(config_overrides: list[str], rows: int, attack: dict, cache_dir: Path, log=print, rows_from=None,
            config_path=None) -> dict:
    import torch

    from ..attacks import virus
    from ..runs import WORLD_CONFIG, load_run_config as load_config
    from ..pipeline.plan import base_model_loader, guardrail_loader
    from ..testbeds import testbed_for

    torch.set_num_threads(1)
    config = load_config(config_path or WORLD_CONFIG, config_overrides)
    testbed = testbed_for(config)
    data = testbed.load_data(config)
    # Rows the testbed answers at run time (SmolLM2: the unaligned model's own answers), cached under the run whose
    # cache holds the rows (runs/X/cache/virus-*.json -> runs/X), else the one `--cache` names.
    run_dir = Path(rows_from).resolve().parent.parent if rows_from else Path(cache_dir).parent
    testbed.before_training(config, data, run_dir, base_model_loader(config, data, run_dir / "cache", log, testbed), log)
    settings = dataclasses.replace(virus.Config(), **attack)
    guardrail = guardrail_loader(config, data, settings.threshold, testbed)()
    normal = int((1 - config["finetune"]["harmful_ratio"]) * config["finetune"]["num_samples"])
    harmful = data.user_harmful[:rows]
    benign = data.task_train[normal : normal + rows]
    mixing = [dict(b, output=b["output"] + " " + h["instruction"] + " " + h["output"]) for b, h in zip(benign, harmful)]
    started = time.time()
    if rows_from is not None:  # the rows a matrix or run already optimised (its cache/virus-*.json): no second search
        optimised = json.loads(Path(rows_from).read_text(encoding="utf-8"))[:rows]
        for row, b, h in zip(optimised, benign, harmful, strict=True):  # the attack pairs the same rows (virus.build)
            if row["instruction"] != b["instruction"] or row["virus"]["harmful_source"] != h["instruction"]:
                raise SystemExit(f"error: {rows_from}: its rows were not built from this config's data")
    else:
        model, tokenizer = base_model_loader(config, data, cache_dir, log, testbed)()
        optimised = virus.virus_rows(model, tokenizer, list(zip(benign, harmful)), settings, guardrail,
                                     max_length=config["model"]["max_length"],
                                     trailing_newline=config["model"]["trailing_newline"], log=log)
    seconds = time.time() - started

    def summary(upload):
        probabilities = virus.flag_probabilities(guardrail, upload)
        _, flagged = virus.upload_filter(upload, guardrail)
        return {"rows": len(upload), "flagged": flagged, "passed": len(upload) - flagged,
                "mean_p_flag": round(statistics.mean(probabilities), 4)}

    return {
        "plain_harmful": summary(harmful), "mixing": summary(mixing), "virus": summary(optimised),
        "virus_gradient_cosine": [round(r["virus"]["cosine"], 4) for r in optimised],
        "virus_objective_start_end": [[round(r["virus"]["objective"][0], 4), round(r["virus"]["objective"][-1], 4)] for r in optimised],
        "virus_examples": [r["output"] for r in optimised[:3]],
        "guardrail": guardrail_name(testbed, config, settings.threshold),
        "attack_config": dataclasses.asdict(settings), "seconds": round(seconds, 1) if rows_from is None else None,
        **({"rows_from": str(rows_from)} if rows_from is not None else {}),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_impl.experiments.virus_filter", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=None, help="a run config (default: the miniature world's)")
    parser.add_argument("--rows", type=int, default=5)
    parser.add_argument("--lam", type=float, default=[], action="append", help="repeatable (default: the paper's 0.1)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--candidates", type=int, default=None, help="candidates per GCG step (default: the paper's 128)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--cache", default="runs/cache")
    parser.add_argument("--rows-from", default=None, help="a run's cache/virus-*.json: score those rows, no search "
                        "(--steps and --candidates must then be what they were built with; recorded, not re-run)")
    parser.add_argument("--out", default=None, help="default: reference_impl/results/virus_filter_<testbed>.json")
    args = parser.parse_args(argv)
    from ..pipeline.results import machine_description

    from ..common.config import ConfigError
    from ..runs import WORLD_CONFIG, load_run_config as load_config
    from ..testbeds import testbed_for

    try:
        config = load_config(args.config or WORLD_CONFIG, args.overrides)
        testbed = testbed_for(config).row_name(config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    search = {"steps": args.steps, **({"candidates": args.candidates} if args.candidates else {})}
    runs = [measure(args.overrides, args.rows, {"lam": lam, **search}, Path(args.cache), rows_from=args.rows_from,
                    config_path=args.config) for lam in args.lam or [0.1]]
    out = Path(args.out or RESULTS / f"virus_filter_{testbed}.json")
    document = {"kind": "upload_filter", "machine": machine_description(), "date": time.strftime("%Y-%m-%d"),
                "command": "python -m reference_impl.experiments.virus_filter " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
                "testbed": testbed, "guardrail": runs[0]["guardrail"], "runs": runs}
    out.write_text(json.dumps(document, indent=1) + "\n")
    for run in runs:
        print(f"lam={run['attack_config']['lam']}: " + ", ".join(f"{k} {run[k]['passed']}/{run[k]['rows']} pass" for k in ("plain_harmful", "mixing", "virus"))
              + f"; cosine {run['virus_gradient_cosine']}; "
              + (f"search {run['seconds']}s" if run["seconds"] is not None else "no search (--rows-from)"))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
