"""Overhead of the defenses relative to plain SFT, on one model and one batch, measured in one run.

Training-time defenses (Vaccine, Booster, Lisa, Panacea): the time of one optimizer step (every forward/backward
pass the defense makes, plus the AdamW update) and the peak memory of a step, each divided by SFT's. The methods take
turns, step by step (round-robin), so a load change on the machine hits all of them alike; warm-up rounds are
dropped and the median of the measured rounds is reported (plus, as a check on a loaded machine, the median of
the per-round ratios, each method's step over SFT's step in the same round).

Data-level defenses (safety mixing, BackdoorAlign, PTST): their Trainer is plain SFT's, so the step is SFT's;
what they change is what is trained on: more rows (finetune_data: k safety rows, BackdoorAlign's triggered ones)
or longer prompts (train_template). A step would hide that, so the measure is one fine-tuning epoch over the rows
the pipeline trains each on, against SFT's epoch over the user's rows: the miniature world's job
(configs/miniature_world.yaml with its per-method settings; `pipeline.plan.prepare` builds the attack's rows, then
the method's finetune_data), tokenised as `pipeline.train.tokenize` does (the method's train template, a row's own
template winning), in the world's batch size, one new random order per epoch (the Trainer's RandomSampler; equal
row sets get equal orders), on the bench's model. The methods take turns step by step within each epoch. The
ratio is the world's share of added rows (k = 6 of 200 rows here); it scales with (n + k) / n, so a config that adds
more rows to fewer pays more. PTST trains on SFT's very rows (the pipeline even reuses SFT's fine-tuning stage):
its ratio is the measurement's own noise. The JSON also gives the serving prompts' mean length in tokens over the
plain template's (BackdoorAlign's trigger, PTST's safety prompt: their cost at inference, not in the target).

Post-fine-tuning defenses: Antidote's pruning time against one plain forward pass over the same calibration
batches; SafeDelta's whole edit (its calibration pass with hooks, one Cholesky per linear, selection and
compensation) against one plain forward pass over its 128 calibration samples; Safe LoRA's, SafeMERGE's and
RESTA's whole `apply` (copy included) on the same model.

Peak memory:
* CUDA: `torch.cuda.max_memory_allocated` after `reset_peak_memory_stats`: the bytes of live tensors at the peak.
* CPU: the same quantity, rebuilt from the PyTorch profiler's allocation events (`profile_memory=True`): every
  CPU tensor allocation and free is recorded with its size and time, and the running sum's maximum is the peak.
  A separate, untimed run per method builds the model copy, the trainer and runs two steps inside the profiler,
  so weights, LoRA, gradients, AdamW state, activations and the defense's own buffers all count. Neither
  `tracemalloc` (sees only Python's allocator, not tensor storage) nor RSS (the C allocator keeps freed pages,
  so a second step looks free) measures this.

Targets (issues 6, 13 and 14; each method's `MethodSpec(overhead=...)`, from the number of forward/backward
passes per step, site/reference/protocol.md, 'Overhead targets'): Vaccine <= 2.3x
SFT, Booster and Panacea <= 3.4x, Lisa, EWC and constrained SFT <= 1.15x (EWC's Fisher pass and constrained SFT's
reference log-probabilities reported apart); safety mixing, BackdoorAlign and PTST <= 1.15x SFT's epoch; Antidote
<= 2x one forward pass over its calibration data, SafeDelta <= 3x one over its 128 samples; Safe LoRA, SafeMERGE and
RESTA under a second on the tiny model.

    python -m bench overhead                                              # as `make bench` runs it
    python -m bench.bench_overhead --output reference_impl/results/overhead.json   # publish (the site's measured-results page)
    python -m bench.bench_overhead --model-size 1b --dtype bf16 --device cuda \
        --output reference_impl/results/overhead.json                    # on a GPU (random 1.1B Llama)

Results replace the rows for the same model in the output file (other models' rows stay). A plain run writes
.bench/overhead.json, so running the benchmarks never rewrites the committed figures by accident.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime as dt
import importlib
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from reference_impl.tables import render

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "reference_impl" / "results" / "overhead.json"  # the published figures (measured-results page)
SCRATCH = ROOT / ".bench" / "overhead.json"  # where a plain `make bench` writes (git-ignored)

def method_targets() -> dict[str, float]:
    """Each registered method's overhead target (its MethodSpec `overhead`: the most time against SFT's step, or
    SFT's epoch for DATA_METHODS, that its passes allow; site/reference/protocol.md, 'Overhead targets')."""
    from reference_impl.pipeline.plan import load_method
    from reference_impl.registry import METHODS

    specs = {name: load_method(name)[2] for name in METHODS}
    return {name: spec.overhead for name, spec in specs.items() if spec.overhead is not None}


TARGETS = method_targets()
TRAINING_METHODS = ("sft", "vaccine", "booster", "lisa", "t_vaccine", "repnoise", "tar", "ldifs", "kl", "ewc",
                    "constrained_sft", "panacea")
#: Defenses that change the fine-tuning data or template, not the step: measured by the epoch (issue 13).
DATA_METHODS = ("safety_mixing", "backdoor_align", "ptst")
WORLD_CONFIG = ROOT / "reference_impl" / "configs" / "miniature_world.yaml"  # the job the data-level methods change
#: One-off work a method does before its first step (reported apart, not in the step time): attribute -> label.
ONE_OFF = {"ewc": ("fisher_seconds", "Fisher pass over the alignment rows"),
           "constrained_sft": ("cache_seconds", "reference log-probabilities of the user's rows")}


def bench_settings(method: str, size: "ModelSize") -> dict:
    """Method settings the bench model needs: T-Vaccine perturbs half the layers (8 of 32 in the paper's 7B runs;
    the paper's S = 8 exceeds the tiny model's 2); TAR runs K = 16 adversary steps (reported with its row: its cost
    grows as about K + K/subsample + 2 SFT steps, 82 at the paper's K = 64)."""
    return {"t_vaccine": {"sampled_layers": max(1, min(8, size.layers // 2))},
            "tar": {"inner_steps": 16}}.get(method, {})


@dataclass(frozen=True)
class ModelSize:
    """A Llama-architecture model built from a config (random weights: speed does not depend on their values)."""

    label: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    seq_len: int
    batch: int
    lora_r: int


SIZES = {
    # Big enough that matrix work dominates Python overhead on a CPU core, small enough for `make bench`.
    "tiny": ModelSize("tiny-llama h128 L2", 128, 2, 4, 4, 344, 1024, 64, 8, 8),
    # TinyLlama-1.1B's shape (hidden 2048, 22 layers, 32 heads / 4 KV heads, MLP 5632, vocab 32000).
    "1b": ModelSize("llama-1.1b (TinyLlama shape)", 2048, 22, 32, 4, 5632, 32000, 256, 4, 8),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_overhead", description=__doc__.split("\n")[0])
    parser.add_argument("--model-size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--warmup", type=int, default=2, help="rounds dropped before measuring")
    parser.add_argument("--rounds", type=int, default=15, help="measured rounds (median reported)")
    parser.add_argument("--epochs", type=int, default=5,
                        help="measured fine-tuning epochs of the data-level methods (median reported)")
    parser.add_argument("--calibration", type=int, default=64, help="Antidote calibration samples")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for torch (1: steadier timings on a shared machine)")
    parser.add_argument("--readme", metavar="FILE",
                        help="measure nothing: rewrite FILE's <!-- overhead --> block from the published overhead.json")
    parser.add_argument("--output", default=str(SCRATCH),
                        help=f"results JSON to update ('-' = print only; the published file is {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args([] if argv is None else argv)
    if args.readme:
        write_readme_block(Path(args.readme))
        return

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda asked for, but torch sees no CUDA device")
    if not args.device.startswith("cuda"):
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    size = SIZES[args.model_size]
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    label = f"{size.label}, {args.dtype}, seq {size.seq_len}, batch {size.batch}, LoRA r={size.lora_r} q,k,v,o,gate,up,down"
    machine = describe_machine(args.device)
    print(f"model: {label}\nmachine: {machine}", flush=True)

    base = build_model(size, dtype, args.device)
    rows = training_overhead(base, size, args)
    rows += data_level_overhead(base, size, args)
    rows += post_fine_tuning_overhead(base, size, args)
    for row in rows:
        row.update(model=label, machine=machine)
    print_rows(rows)
    if args.output != "-":
        command = ("python -m bench.bench_overhead " + " ".join(argv)) if argv else "make bench"
        write_results(Path(args.output), rows, label, machine, command.strip())


# ---------------------------------------------------------------------------------------------------------
# Training-time defenses


def training_overhead(base, size: ModelSize, args) -> list[dict]:
    import torch

    # The timed batch is the first batch of the trainers' own rows: methods that precompute per-row values
    # (the token-wise constrained SFT's reference log-probabilities) find them, as in a real run.
    batch = fabricated_batch(size, seed=2, device=args.device)
    methods = [m for m in TRAINING_METHODS if m == "sft" or trainer_class(m) is not None]
    missing = [m for m in TRAINING_METHODS if m not in methods]
    if missing:
        print(f"not measured (no Trainer committed yet): {', '.join(missing)}", flush=True)

    runs = {m: TrainerRun(m, base, size, args) for m in methods}
    times: dict[str, list[float]] = {m: [] for m in methods}
    for round_index in range(args.warmup + args.rounds):
        for method in methods:  # round-robin: the methods share whatever the machine is doing
            seconds = runs[method].timed_step(batch)
            if round_index >= args.warmup:
                times[method].append(seconds)
    one_off = {m: round(getattr(runs[m].trainer, ONE_OFF[m][0]), 4) for m in methods if m in ONE_OFF}
    del runs
    peaks = {m: peak_step_memory(m, base, size, args, batch) for m in methods}

    sft_time, sft_mem = statistics.median(times["sft"]), peaks["sft"]
    rows = []
    for method in methods:
        step = statistics.median(times[method])
        rows.append(
            {
                "method": method,
                "stage": "baseline" if method == "sft" else stage_of(method),
                "step_time_s": round(step, 5),
                "step_time_ratio": round(step / sft_time, 3),
                "step_time_spread_s": [round(min(times[method]), 5), round(max(times[method]), 5)],
                # Robustness check under load: each round's time over SFT's in the same round (adjacent in time).
                "paired_ratio_median": round(statistics.median(t / s for t, s in zip(times[method], times["sft"])), 3),
                "peak_mem_mb": round(peaks[method] / 2**20, 2),
                "peak_mem_ratio": round(peaks[method] / sft_mem, 3),
                "target_time_ratio": TARGETS.get(method),
                "within_target": None if method not in TARGETS else step / sft_time <= TARGETS[method],
                "rounds": args.rounds,
                **({"settings": bench_settings(method, size)} if bench_settings(method, size) else {}),
                **({"one_off_s": one_off[method], "one_off": ONE_OFF[method][1]} if method in one_off else {}),
            }
        )
    torch.manual_seed(0)
    return rows


class TrainerRun:
    """One method's Trainer on its own copy of the model, stepped by hand (no dataloader: the same batch)."""

    def __init__(self, method: str, base, size: ModelSize, args):
        import torch

        self.method = method
        self.device = args.device
        self.trainer = make_trainer(method, base, size, args)
        self.trainer.create_optimizer()
        self.trainer.state.max_steps = 1000  # mid-run: Lisa's proximal term is on, as in most of a real run
        self.trainer.state.global_step = 200
        self.torch = torch

    def timed_step(self, batch) -> float:
        torch = self.torch
        trainer = self.trainer
        self._sync()
        start = time.perf_counter()
        trainer.training_step(trainer.model, dict(batch))
        trainer.optimizer.step()
        trainer.optimizer.zero_grad(set_to_none=True)
        self._sync()
        seconds = time.perf_counter() - start
        trainer.state.global_step += 1
        del torch
        return seconds

    def _sync(self):
        if str(self.device).startswith("cuda"):
            self.torch.cuda.synchronize()


def peak_step_memory(method: str, base, size: ModelSize, args, batch) -> int:
    """Peak bytes of live tensors while building this method's copy + trainer and running two steps."""
    import gc

    import torch

    gc.collect()
    if str(args.device).startswith("cuda"):
        torch.cuda.empty_cache()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        run = TrainerRun(method, base, size, args)
        for _ in range(2):
            run.timed_step(batch)
        peak = torch.cuda.max_memory_allocated() - before
        del run
        return peak
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run = TrainerRun(method, base, size, args)
        for _ in range(2):
            run.timed_step(batch)
        del run
    return peak_from_allocation_events(prof)


def peak_from_allocation_events(prof) -> int:
    """Max over time of the running sum of CPU allocation (+bytes) and free (-bytes) events."""
    events = [
        (event.start_ns(), event.nbytes())
        for event in prof.profiler.kineto_results.events()
        if event.name() == "[memory]" and event.device_type().name == "CPU"
    ]
    live = peak = 0
    for _, nbytes in sorted(events):
        live += nbytes
        peak = max(peak, live)
    return peak


def trainer_class(method: str):
    """The Trainer a method's MethodSpec names (SFT: the harness itself), or None (no trainer, or no module yet)."""
    if method == "sft":
        from reference_impl.common.harness import HFTTrainer

        return HFTTrainer
    from reference_impl.registry import METHODS

    try:
        module = importlib.import_module(METHODS[method].module)
    except ModuleNotFoundError:
        return None
    spec = getattr(module, METHODS[method].spec)  # the MethodSpec (reference_impl/common/method.py)
    return getattr(module, spec.trainer) if spec.trainer else None


def stage_of(method: str) -> str:
    from reference_impl.registry import METHODS

    return METHODS[method].stage


def make_trainer(method: str, base, size: ModelSize, args):
    from reference_impl.common.harness import training_arguments
    from reference_impl.common.models import LoraSettings, add_lora
    from reference_impl.common.templates import Collator
    from reference_impl.registry import METHODS

    model = add_lora(copy.deepcopy(base), LoraSettings(r=size.lora_r, alpha=4, dropout=0.0))
    rows = fabricated_rows(size, count=4 * size.batch, seed=2)
    kwargs = {}
    if method != "sft":
        module = importlib.import_module(METHODS[method].module)
        # Every pass on a batch of the same size: Booster's harmful batch defaults to 10 rows (the official
        # trainer's, where the alignment batch is 10 too); here both are the bench's batch size.
        sizes = {f.name: size.batch for f in dataclasses.fields(module.Config) if f.name.endswith("batch_size")}
        kwargs["defense_config"] = dataclasses.replace(module.Config(), **sizes, **bench_settings(method, size))
    output_dir = tempfile.mkdtemp(prefix=f"bench-{method}-")
    training_args = training_arguments(
        output_dir,
        per_device_train_batch_size=size.batch,
        learning_rate=1e-4,
        max_steps=1000,
        bf16=args.dtype == "bf16",
        use_cpu=not str(args.device).startswith("cuda"),
    )
    return trainer_class(method)(
        model=model,
        args=training_args,
        train_dataset=rows,
        data_collator=Collator(pad_token_id=0),
        extra_datasets={"alignment": rows, "harmful": rows},
        **kwargs,
    )


# ---------------------------------------------------------------------------------------------------------
# Data-level defenses: the same step on other rows


@dataclass
class WorldJob:
    """One method's fine-tuning job in the miniature world: the tokenised rows it trains on, its settings."""

    rows: list[dict]
    batch_size: int
    pad_token_id: int
    settings: dict
    serving_tokens: float  # mean tokens of the harmful evaluation prompts in the method's evaluation template


def world_job(method: str) -> WorldJob:
    """The rows `pipeline.finetune` trains `method` on in the miniature world (no model is built or trained)."""
    from reference_impl.common.config import load_config
    from reference_impl.common.templates import row_prompt, tokenize_rows
    from reference_impl.testbeds.miniature_world import tokenizer_for
    from reference_impl.pipeline.plan import prepare

    config = load_config(WORLD_CONFIG, [f"method={method}"])
    plan = prepare(config, cache_dir=tempfile.mkdtemp(prefix="bench-world-"), log=lambda *_: None)
    tokenizer = tokenizer_for(plan.data.world)  # the world's base model's tokenizer (pipeline.session)
    model = config["model"]
    rows = tokenize_rows(tokenizer, plan.mixture, max_length=model["max_length"],
                         trailing_newline=model["trailing_newline"], template=plan.train_template)
    serving = [len(tokenizer(row_prompt(row, trailing_newline=model["trailing_newline"], template=plan.eval_template),
                             add_special_tokens=True)["input_ids"]) for row in plan.data.eval_harmful]
    return WorldJob(rows, config["finetune"]["batch_size"], tokenizer.pad_token_id, dataclasses.asdict(plan.method_config),
                    statistics.mean(serving))


def epoch_batches(job: WorldJob, *, seed: int, device) -> list[dict]:
    """One epoch's batches: a random order from `seed` (the same for equal row counts), the last batch short."""
    import torch

    from reference_impl.common.templates import Collator

    rows, size, collate = job.rows, job.batch_size, Collator(job.pad_token_id)
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed)).tolist()
    batches = [collate([rows[i] for i in order[start : start + size]]) for start in range(0, len(rows), size)]
    return [{k: v.to(device) for k, v in batch.items()} for batch in batches]


def data_level_overhead(base, size: ModelSize, args) -> list[dict]:
    """Safety mixing, BackdoorAlign, PTST: one epoch over their rows against SFT's over the user's (module docstring)."""
    jobs = {m: world_job(m) for m in ("sft", *DATA_METHODS)}
    batch_size = jobs["sft"].batch_size
    runs = {m: TrainerRun("sft", base, size, args) for m in jobs}  # plain SFT's Trainer trains every one of them
    warmup = epoch_batches(jobs["sft"], seed=args.epochs, device=args.device)[:2]  # an order no epoch below uses
    for run in runs.values():
        for batch in warmup:
            run.timed_step(batch)
    epochs: dict[str, list[float]] = {m: [] for m in jobs}
    for epoch in range(args.epochs):
        batches = {m: epoch_batches(job, seed=epoch, device=args.device) for m, job in jobs.items()}
        seconds = dict.fromkeys(jobs, 0.0)
        for step in range(max(len(b) for b in batches.values())):
            for method in jobs:  # round-robin, step by step: the methods share whatever the machine is doing
                if step < len(batches[method]):
                    seconds[method] += runs[method].timed_step(batches[method][step])
        for method in jobs:
            epochs[method].append(seconds[method])
    del runs

    sft, sft_epoch = jobs["sft"], statistics.median(epochs["sft"])
    steps = (len(sft.rows) + batch_size - 1) // batch_size
    reference = f"SFT's epoch over the world's {len(sft.rows)} user rows ({steps} steps of {batch_size})"
    rows = []
    for method in DATA_METHODS:
        job = jobs[method]
        row = ratio_row(method, statistics.median(epochs[method]), sft_epoch, reference, TARGETS[method],
                        stage=stage_of(method))
        row.update(
            time_unit="per epoch",
            paired_ratio_median=round(statistics.median(m / s for m, s in zip(epochs[method], epochs["sft"])), 3),
            epoch_spread_s=[round(min(epochs[method]), 4), round(max(epochs[method]), 4)],
            rows=len(job.rows), sft_rows=len(sft.rows),
            steps=(len(job.rows) + batch_size - 1) // batch_size,
            tokens=sum(len(r["input_ids"]) for r in job.rows), sft_tokens=sum(len(r["input_ids"]) for r in sft.rows),
            serving_prompt_tokens_ratio=round(job.serving_tokens / sft.serving_tokens, 3),
            epochs=args.epochs, settings=job.settings,
        )
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------------------
# Post-fine-tuning defenses


def post_fine_tuning_overhead(base, size: ModelSize, args) -> list[dict]:
    import torch

    from reference_impl.common.models import LoraSettings, add_lora

    rows = []
    finetuned = add_lora(copy.deepcopy(base), LoraSettings(r=size.lora_r, alpha=4, dropout=0.0))
    with torch.no_grad():  # a fine-tuned adapter: B is zero at init
        for name, param in finetuned.named_parameters():
            if "lora_" in name:
                param.normal_(0, 0.02)
    finetuned.eval()
    calibration = [fabricated_batch(size, seed=10 + i, device=args.device, labels=False)
                   for i in range((args.calibration + size.batch - 1) // size.batch)]

    try:
        from reference_impl.defenses import antidote
    except ModuleNotFoundError:
        antidote = None
    if antidote is not None:
        forward_times, prune_times = [], []
        for round_index in range(1 + 3):
            forward_times.append(timed(lambda: plain_forward(finetuned, calibration), args.device))
            work = copy.deepcopy(finetuned)  # the copy `apply` makes is not part of the algorithm's cost
            prune_times.append(timed(lambda: antidote.prune(work, calibration, antidote.Config()), args.device))
            del work
        rows.append(ratio_row("antidote", statistics.median(prune_times[1:]), statistics.median(forward_times[1:]),
                              f"one forward pass over the {args.calibration} calibration samples", 2.0))

    try:
        from reference_impl.defenses import safe_lora
    except ModuleNotFoundError:
        safe_lora = None
    if safe_lora is not None:
        aligned = low_rank_shift(base)  # an "aligned" model: base + a low-rank delta on every linear layer
        context = {"base_model": base, "aligned_model": aligned}
        seconds = [timed(lambda: safe_lora.apply(finetuned, None, config=safe_lora.Config(), data=None,
                                                 context=context), args.device) for _ in range(4)]
        rows.append(seconds_row("safe_lora", statistics.median(seconds[1:]),
                                "target: well under 1 s on the tiny model (copy + all projections and cosines)", args))

    try:
        from reference_impl.defenses import lox
    except ModuleNotFoundError:
        lox = None
    if lox is not None:  # full weights: every matrix of the model, the larger of LoX's two uses
        aligned = copy.deepcopy(base)
        with torch.no_grad():
            for param in aligned.parameters():
                param.add_(0.001 * torch.randn_like(param))
        config = lox.Config(k=size.lora_r, c=1.0)
        seconds = [timed(lambda: lox.extrapolate(aligned, base, config), args.device) for _ in range(4)]
        rows.append(seconds_row("lox", statistics.median(seconds[1:]),
                                f"target: under 1 s on the tiny model (copy + one SVD per matrix, k={config.k})", args,
                                stage="alignment"))
    rows += merge_overhead(base, finetuned, size, args)
    return rows


def low_rank_shift(model, scale: float = 0.001):
    """A copy of `model` moved by a rank-8 delta on every linear layer (an "aligned" model for the pair methods)."""
    import torch

    shifted = copy.deepcopy(model)
    with torch.no_grad():
        for module in shifted.modules():
            if isinstance(module, torch.nn.Linear) and module is not shifted.get_output_embeddings():
                out_f, in_f = module.weight.shape
                delta = torch.randn(out_f, 8, device=module.weight.device) @ torch.randn(8, in_f, device=module.weight.device)
                module.weight += (scale * delta).to(module.weight.dtype)
    return shifted


def merge_overhead(base, finetuned, size: ModelSize, args) -> list[dict]:
    """SafeMERGE and RESTA (whole `apply`, under a second) and SafeDelta (<= 3x one calibration forward pass)."""
    import torch

    from reference_impl.common.models import LoraSettings, add_lora

    rows = []
    aligned = low_rank_shift(base)
    under_a_second = "target: under 1 s on the tiny model (the whole apply, copy included)"
    try:
        from reference_impl.defenses import safemerge
    except ModuleNotFoundError:
        safemerge = None
    if safemerge is not None:
        safety = add_lora(copy.deepcopy(base), LoraSettings(r=size.lora_r, alpha=4, dropout=0.0))
        with torch.no_grad():
            for name, param in safety.named_parameters():
                if "lora_" in name:
                    param.normal_(0, 0.02)
        context = {"base_model": base, "aligned_model": aligned, "safety_adapter": safety}
        config = safemerge.Config(threshold=1.0)  # every layer merged: the most work
        seconds = [timed(lambda: safemerge.apply(finetuned, None, config=config, data=None, context=context), args.device)
                   for _ in range(4)]
        rows.append(seconds_row("safemerge", statistics.median(seconds[1:]), under_a_second, args))
    try:
        from reference_impl.defenses import resta
    except ModuleNotFoundError:
        resta = None
    if resta is not None:
        context = {"aligned_model": aligned, "unaligned_model": base}
        config = resta.Config(drop_rate=0.3)  # DARE on: the most work
        seconds = [timed(lambda: resta.apply(finetuned, None, config=config, data=None, context=context), args.device)
                   for _ in range(4)]
        rows.append(seconds_row("resta", statistics.median(seconds[1:]), under_a_second, args))
    try:
        from reference_impl.defenses import safedelta
    except ModuleNotFoundError:
        safedelta = None
    if safedelta is not None:
        config = safedelta.Config()
        batches = [fabricated_batch(size, seed=100 + i, device=args.device, labels=False)
                   for i in range((config.nsamples + size.batch - 1) // size.batch)]
        weights = {name: w.detach().clone() for name, w in safedelta.full_weights(finetuned).items()}
        forward_times, edit_times = [], []
        for _ in range(1 + 3):
            forward_times.append(timed(lambda: plain_forward(base, batches), args.device))
            work = copy.deepcopy(base)  # the copy `apply` makes is not part of the algorithm's cost
            edit_times.append(timed(lambda: safedelta.repair(work, weights, batches, config), args.device))
            del work
        rows.append(ratio_row("safedelta", statistics.median(edit_times[1:]), statistics.median(forward_times[1:]),
                              f"one forward pass over the {config.nsamples} calibration samples", 3.0))
    return rows


def ratio_row(method: str, seconds: float, reference_seconds: float, reference: str, target: float,
              stage: str = "post_fine_tuning") -> dict:
    """A row measured against a reference time (one forward pass over the calibration data, SFT's epoch)."""
    return {
        "method": method,
        "stage": stage,
        "time_s": round(seconds, 4),
        "reference": reference,
        "reference_time_s": round(reference_seconds, 4),
        "time_ratio": round(seconds / reference_seconds, 3),
        "target_time_ratio": target,
        "within_target": seconds / reference_seconds <= target,
    }


def seconds_row(method: str, seconds: float, reference: str, args, stage: str = "post_fine_tuning") -> dict:
    """A row measured in seconds against a fixed target (1 s on the tiny model)."""
    return {
        "method": method,
        "stage": stage,
        "time_s": round(seconds, 4),
        "reference": reference,
        "target_time_s": 1.0,
        "within_target": seconds < 1.0 if args.model_size == "tiny" else None,
    }


def plain_forward(model, batches) -> None:
    import torch

    with torch.no_grad():
        for batch in batches:
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)


def timed(fn, device) -> float:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------------------
# Model, data, machine, output


def build_model(size: ModelSize, dtype, device):
    from reference_impl.common.models import TinyLlamaSpec, tiny_llama

    spec = TinyLlamaSpec(hidden_size=size.hidden, num_layers=size.layers, num_heads=size.heads,
                         intermediate_size=size.intermediate, max_position_embeddings=max(512, size.seq_len),
                         extra={"num_key_value_heads": size.kv_heads})
    return tiny_llama(size.vocab, spec, seed=0).to(device=device, dtype=dtype)


def fabricated_rows(size: ModelSize, *, count: int, seed: int) -> list[dict]:
    """Tokenised rows: random ids; the first half of every sequence is the prompt (labels -100)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(count):
        ids = torch.randint(4, size.vocab, (size.seq_len,), generator=generator).tolist()
        labels = [-100] * (size.seq_len // 2) + ids[size.seq_len // 2 :]
        rows.append({"input_ids": ids, "labels": labels})
    return rows


def fabricated_batch(size: ModelSize, *, seed: int, device, labels: bool = True) -> dict:
    from reference_impl.common.templates import Collator

    batch = Collator(pad_token_id=0)(fabricated_rows(size, count=size.batch, seed=seed))
    if not labels:
        batch.pop("labels")
    return {k: v.to(device) for k, v in batch.items()}


def describe_machine(device: str) -> str:
    import os

    import torch

    if str(device).startswith("cuda"):
        return f"{torch.cuda.get_device_name()} (CUDA), torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = torch.get_num_threads()
    return f"{cpu}, {os.cpu_count()} cores visible, torch {torch.__version__} CPU with {threads} threads"


def print_rows(rows: list[dict]) -> None:
    print(f"{'method':<16} {'step s':>9} {'x SFT':>7} {'peak MB':>9} {'x SFT':>7}  target")
    for row in rows:
        if "step_time_s" in row:
            target = "" if row["target_time_ratio"] is None else f"<= {row['target_time_ratio']}x: " + (
                "met" if row["within_target"] else "MISSED")
            print(f"{row['method']:<16} {row['step_time_s']:>9.4f} {row['step_time_ratio']:>7.2f} "
                  f"{row['peak_mem_mb']:>9.1f} {row['peak_mem_ratio']:>7.2f}  {target}")
        else:
            extra = f" vs {row['reference_time_s']:.4f} s reference ({row['time_ratio']:.2f}x)" if "time_ratio" in row else ""
            verdict = {True: "met", False: "MISSED", None: "n/a"}[row["within_target"]]
            print(f"{row['method']:<16} {row['time_s']:>9.4f} s{extra}  target {verdict}")


def write_results(path: Path, rows: list[dict], label: str, machine: str, command: str) -> None:
    previous = []
    if path.exists():
        previous = [r for r in json.loads(path.read_text()).get("rows", []) if r.get("model") != label]
    all_rows = previous + rows
    machines = sorted({r["machine"] for r in all_rows})
    data = {
        "kind": "overhead",
        "machine": "; ".join(machines),
        "date": dt.date.today().isoformat(),
        "command": command,
        "rows": all_rows,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path}")




def write_readme_block(path: Path) -> None:
    """Replace the block between `<!-- overhead -->` and `<!-- /overhead -->` with the published tables."""
    text = path.read_text(encoding="utf-8")
    start, end = "<!-- overhead -->", "<!-- /overhead -->"
    if start not in text or end not in text:
        raise SystemExit(f"error: {path} has no {start} ... {end} block")
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    block = render(json.loads(RESULTS.read_text()), str(RESULTS))
    path.write_text(f"{head}{start}\n{block}{end}{tail}", encoding="utf-8")
    print(f"wrote the overhead tables into {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
