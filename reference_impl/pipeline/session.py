"""What every stage shares: the run directory, the models (loaded on demand), seeding, and stage directories.

Each stage writes its artifacts under `out_dir/stages/<stage>-<name>-<hash>/` and a `DONE` file; the hash
(`fingerprint`) covers every setting the stage depends on, so a re-run reuses finished stages, and stages shared
between methods (e.g. the SFT alignment that Lisa, Antidote and Safe LoRA all start from).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

from .plan import Plan

#: Part of every stage's hash. A stage directory is reused when its settings match, but settings are not code:
#: bump this when a change alters what a stage trains or measures for unchanged settings, so that old run
#: directories are retrained instead of silently mixed with new results.
#: 1 -> 2 (2026-11-23): the LoRA init is seeded after the models are loaded (Session.seed).
#: 2 -> 3 (2026-12-02): miniature world v2 (disjoint harmful pairs, other pre-training wording; issue 11).
STAGE_VERSION = 3


def fingerprint(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def is_main_process() -> bool:
    """Rank 0 of a distributed launch (or the only process)."""
    return int(os.environ.get("RANK", "0")) == 0


def mark_done(directory: Path, info: dict) -> None:
    if is_main_process():
        (directory / "DONE").write_text(json.dumps(info, indent=1))


def loss_components(directory: Path | None) -> dict:
    """The per-step loss components' means a finished training stage recorded (harness `loss_components`)."""
    done = None if directory is None else directory / "DONE"
    if done is None or not done.exists():
        return {}
    return json.loads(done.read_text()).get("loss_components", {})


class Session:
    """One plan's run under `out_dir`: shared tokenizer, base-model cache, timings."""

    def __init__(self, plan: Plan, out_dir: str | Path, log: Callable[[str], None] = print):
        self.plan = plan
        self.config = plan.config
        self.out = Path(out_dir)
        self.log = log
        self.stages = self.out / "stages"
        self.stages.mkdir(parents=True, exist_ok=True)
        self._tokenizer = None
        self._base_dir: Path | None = None
        self.timings: dict[str, float] = {}

    def setup_torch(self) -> None:
        import torch

        threads = self.config["model"]["threads"]
        if threads and not torch.cuda.is_available():
            torch.set_num_threads(threads)  # oversubscribed CPUs train >10x slower; see README

    def stage_dir(self, kind: str, name: str, payload: dict) -> Path:
        return self.stages / f"{kind}-{name}-{fingerprint(payload)}"

    def seed(self) -> None:
        """Seed every RNG after a stage has loaded its models and right before it adds its LoRA: the LoRA's random
        init must not depend on what ran earlier in the same process (a sweep) nor on whether the world's base
        model was pre-trained just now (a cold cache consumes random numbers) or read from disk; otherwise a
        re-run in a fresh directory would not reproduce a sweep's numbers (it did not, before this ordering)."""
        from transformers import set_seed

        set_seed(self.config["seed"])

    # -- models ----------------------------------------------------------------------------------------

    def tokenizer(self):
        if self._tokenizer is None:
            self.load_base()
        return self._tokenizer

    def load_base(self):
        """A fresh copy of the base model (and the shared tokenizer), from the plan's testbed."""
        started = time.time()
        model, tokenizer = self.plan.testbed.load_base(self.config, self.plan.data, self.out / "cache", self.log)
        self.timings.setdefault("base", round(time.time() - started, 1))
        if self._tokenizer is None:
            self._tokenizer = tokenizer
        return model

    def base_identity(self) -> dict:
        return {**self.plan.testbed.base_identity(self.config, self.plan.data), "stages": STAGE_VERSION}

    def load_aligned(self, align_dir: Path | None):
        """The base with the alignment LoRA merged (the base itself when the method skips alignment)."""
        from ..common.models import load_lora, merge_lora

        base = self.load_base()
        return base if align_dir is None else merge_lora(load_lora(base, align_dir / "adapter", trainable=False))

    def load_finetuned(self, align_dir: Path | None, ft_dir: Path, mode: str):
        """Aligned base + fine-tuning adapter, as a peft model (what post-fine-tuning defenses receive)."""
        from ..common.models import load_lora

        base = self.load_base() if mode == "continue" else self.load_aligned(align_dir)
        return load_lora(base, ft_dir / "adapter", trainable=False)
