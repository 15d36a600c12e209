"""Lisa: lazy safety alignment (Bi-State Optimisation with a proximal term).

Paper
-----
Huang, Hu, Ilhan, Tekin, Liu. *Lisa: Lazy Safety Alignment for Large Language Models against Harmful Fine-tuning
Attack* (NeurIPS 2024). Knowledge-base record ``lisa-2024``, arXiv 2405.18641. Official code: git-disl/Lisa
(``trainer.py``, class ``LisaTrainer``; the same trainer is ``ADMMTrainer`` in the Booster and Antidote repos).

Stage: **fine-tuning** (the provider runs the user's fine-tuning and interleaves it with alignment). Needs: the
aligned model and the provider's alignment set, streamed during every fine-tuning job.

Algorithm
---------
Lisa alternates between two states sharing one LoRA and one optimizer: an *alignment state* that descends the
alignment loss f on the provider's alignment data, and a *fine-tuning state* that descends the user loss h on
the user's (possibly poisoned) data. Plain alternation (Bi-State Optimisation, BSO) drifts when few steps go to
alignment, so each state adds a proximal term that pulls the weights toward the point where the *other* state
last stopped (labels are this docstring's own):

    (L1)  alignment state:   min_w  f(w) + (rho/2) * ||w - w~_ft||^2
    (L2)  fine-tuning state: min_w  h(w) + (rho/2) * ||w - w~_align||^2

Per optimisation step t (official trainer):

1. State machine: start in the alignment state (when alignment_steps > 0); after ``alignment_steps`` steps
   switch to fine-tuning, after ``finetune_steps`` steps back to alignment, and so on. The state of step t is
   therefore "alignment" when t mod (alignment_steps + finetune_steps) < alignment_steps.
2. In the alignment state, the user's batch is replaced by a batch from the alignment set (an endless, shuffled
   loader with the same batch size). Alignment steps take slots of the fine-tuning run: the run has as many
   steps as plain SFT would, and fewer of them see user data.
3. Anchors: w~_align and w~_ft both start as the initial trainable weights. At each switch the weights reached
   by the state that ends are stored: alignment -> fine-tuning stores w~_align, fine-tuning -> alignment stores
   w~_ft.
4. Loss (L1) or (L2), the norm over the trainable (LoRA) parameters. The proximal term is off while
   t <= 0.1 * total steps (official code comment: it hurts GSM8K convergence early on).
5. Backward; the shared AdamW steps.

Cost: the same number of forward/backward passes as SFT, plus two copies of the trainable parameters and the
alignment data at every fine-tuning job.

Deviations
----------
* Steps are counted in optimizer steps (``state.global_step``), not in ``training_step`` calls as in the
  official trainer. The two agree at gradient accumulation 1 (the official scripts); with accumulation, all
  micro-batches of one optimizer step belong to the same state, so one update never mixes the two losses.
* The proximal warm-up is a fraction of the run's total optimizer steps (``warmup_fraction``, default 0.1),
  computed from the Trainer's ``max_steps``; the official code uses len(train dataloader) x epochs, which is the
  same number at accumulation 1.
* The official README writes the anchors the other way round (alignment pulled toward w~_align); the official
  trainer, followed here, pulls each state toward the other state's anchor.
* Booster's re-run of Lisa uses rho = 0.01; the default here is the Lisa paper's rho = 1.
* The anchors live in memory, not in Trainer checkpoints: a run resumed from a checkpoint restarts both anchors
  from the resumed weights.
* A split longer than the run (alignment_steps + finetune_steps > the fine-tuning stage's optimizer steps,
  counted from the config by ``common/schedule.py``) and a proximal warm-up covering the whole run are refused
  before any training, with the settings to change (issue 11: the paper's 100/900 split in the miniature world's
  104-step run trained 4 steps on the user's data). A run with no more optimizer steps than ``alignment_steps``
  is also refused at its first step (a distributed run's real count). Short runs need a scaled-down split; the
  miniature world's config sets 2/18 in ``method_configs``.

Usage
-----
Command line (align with plain SFT, then fine-tune with Lisa on the user's data)::

    python -m reference_impl run config.yaml --method lisa --set method_config.rho=1

Python::

    from reference_impl.defenses import lisa
    trainer = lisa.Trainer(model=model, args=training_args, train_dataset=user_set,
                           extra_datasets={"alignment": alignment_set}, defense_config=lisa.Config())
    trainer.train()

The paper's training settings for the fine-tuning stage (official ``script/finetune/lisa_poison_ratio.sh``):
10000 BeaverTails safe rows as the alignment set, n = 5000 user rows with p = 0.1, lr 1e-5, constant schedule,
weight decay 0, 20 epochs, batch size 5, LoRA r=8, alpha=4 on q_proj, v_proj.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from reference_impl.common.method import MethodSpec
from reference_impl.common.needs import require

ALIGNMENT = "alignment"
FINETUNE = "finetune"


# `duplicates` pairs the field(default=..., metadata={help, source}) declarations below with the other defenses'
# Configs: same shape, different data (each field's paper default and its source); there is no logic to share.
@dataclass(frozen=True)
class Config:
    """Lisa's own hyper-parameters (the training ones live in the run configuration)."""

    rho: float = field(
        default=1.0,
        metadata={
            "help": "Weight of the proximal term (rho/2) * ||w - anchor||^2; 0 turns Lisa into plain Bi-State Optimisation.",
            "source": "official script/finetune/lisa_poison_ratio.sh (rho=1)",
        },
    )
    alignment_steps: int = field(
        default=100,
        metadata={
            "help": "Consecutive optimizer steps on alignment data before switching to the user's data.",
            "source": "official script/finetune/lisa_poison_ratio.sh (alignment_step=100)",
        },
    )
    finetune_steps: int = field(
        default=900,
        metadata={
            "help": "Consecutive optimizer steps on the user's data before switching back to alignment data.",
            "source": "official script/finetune/lisa_poison_ratio.sh (finetune_step=900)",
        },
    )
    warmup_fraction: float = field(
        default=0.1,
        metadata={
            "help": "The proximal term stays off while step <= warmup_fraction * total steps.",
            "source": "official trainer.py (hard-coded 0.1; comment: the proximal term hurts GSM8K convergence)",
        },
    )


def check_config(config: Config, context: object = None) -> None:
    """Reject a configuration Lisa cannot run with, before any training."""
    for name in ("rho", "warmup_fraction"):
        value = getattr(config, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"lisa: {name} must be a number, got {value!r}")
    if config.rho < 0:
        raise ValueError(f"lisa: rho must be >= 0 (the proximal term's weight), got {config.rho}")
    if not 0 <= config.warmup_fraction <= 1:
        raise ValueError(f"lisa: warmup_fraction must be in [0, 1], got {config.warmup_fraction}")
    for name in ("alignment_steps", "finetune_steps"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"lisa: {name} must be an integer >= 0, got {value!r}")
    if config.finetune_steps == 0:
        raise ValueError("lisa: finetune_steps must be > 0, or the user's data is never trained on")
    if config.alignment_steps > 0:
        require(context, "alignment_data",
                 "lisa: needs an alignment dataset at fine-tuning time (or set defense.alignment_steps=0)")
    total = context.get("finetune_steps") if isinstance(context, dict) else None
    if total is not None:
        check_schedule_fits(config, total)


def check_schedule_fits(config: Config, total_steps: int) -> None:
    """Refuse, before training, a schedule the run is too short for (issue 11: the paper's 100/900 split in a
    104-step run left 4 steps on the user's data and gave HS 0, a result that says nothing about Lisa)."""
    cycle = config.alignment_steps + config.finetune_steps
    if config.alignment_steps > 0 and cycle > total_steps:
        if total_steps < 2:
            raise ValueError(f"this run has {total_steps} fine-tuning step(s); Lisa needs at least 2 (one alignment, "
                             "one fine-tuning step), so add data or epochs, or set method_config.alignment_steps=0")
        aligned, finetuned = fitting_split(config, total_steps)
        raise ValueError(
            f"alignment_steps + finetune_steps = {config.alignment_steps} + {config.finetune_steps} = {cycle} is longer "
            f"than this run's {total_steps} fine-tuning steps, so not even one alignment/fine-tuning cycle fits; set "
            f"method_config.alignment_steps and method_config.finetune_steps to a split whose sum is at most "
            f"{total_steps} (e.g. {aligned} and {finetuned}: {total_steps // (aligned + finetuned)} cycle(s), "
            f"{finetuned / (aligned + finetuned):.0%} of each on the user's data; yours: {config.finetune_steps / cycle:.0%})"
        )
    if config.rho > 0 and config.warmup_fraction * total_steps >= total_steps - 1:
        raise ValueError(
            f"the proximal warm-up (warmup_fraction={config.warmup_fraction} of {total_steps} steps) covers the whole "
            "run, so the proximal term is never used; set method_config.warmup_fraction below 1 (paper: 0.1) or "
            "method_config.rho=0 for plain Bi-State Optimisation"
        )


def fitting_split(config: Config, total_steps: int) -> tuple[int, int]:
    """A split for a run of ``total_steps`` that keeps the configured share of fine-tuning steps as closely as
    whole steps allow: five cycles when the run is long enough for them at that share, else as few as it takes."""
    share = config.finetune_steps / (config.alignment_steps + config.finetune_steps)
    shortest = round(1 / min(share, 1 - share))  # the shortest cycle at this share: one step of the smaller state
    cycle = max(2, min(total_steps, max(total_steps // 5, shortest)))
    aligned = min(cycle - 1, max(1, round(cycle * (1 - share))))  # at least one step of each state
    return aligned, cycle - aligned


METHOD = MethodSpec(stage="fine_tuning", config=Config, needs=("alignment_data",), check=check_config, trainer="Trainer",
                    overhead=1.15)


# ==========================================================================================================
# DEFENSE LOGIC
# ==========================================================================================================

import torch  # noqa: E402  (below the banner: the part above reads without torch)

from reference_impl.common.harness import HFTTrainer  # noqa: E402


def state_at(step: int, alignment_steps: int, finetune_steps: int) -> str:
    """The state of optimizer step ``step`` (0-based, step 1 of the algorithm): alignment for the first
    ``alignment_steps`` steps of each period of ``alignment_steps + finetune_steps`` steps, fine-tuning after."""
    if alignment_steps == 0:
        return FINETUNE
    return ALIGNMENT if step % (alignment_steps + finetune_steps) < alignment_steps else FINETUNE


def proximal_active(step: int, total_steps: int, warmup_fraction: float) -> bool:
    """Whether the proximal term is on at ``step``: off while step <= warmup_fraction * total_steps (step 4)."""
    return step > warmup_fraction * total_steps


def proximal_term(params: Sequence[torch.Tensor], anchor: Sequence[torch.Tensor], rho: float) -> torch.Tensor:
    """(rho/2) * sum over parameters of ||w - w~||^2 ((L1), (L2)); differentiable in ``params``."""
    return rho / 2 * sum(((p - a) ** 2).sum() for p, a in zip(params, anchor))


def check_run_length(config: Config, total_steps: int) -> None:
    """A run no longer than ``alignment_steps`` would never train on the user's data: say so instead.

    Raised as the pipeline's ``PipelineError`` (a run that cannot go on), which its CLI reports in one line.
    """
    from reference_impl.common.errors import PipelineError

    if config.alignment_steps > 0 and total_steps <= config.alignment_steps:
        raise PipelineError(
            f"lisa: this run has {total_steps} optimizer steps and alignment_steps={config.alignment_steps}, so it "
            "would never train on the user's data; lower method_config.alignment_steps and finetune_steps "
            "(the paper's 100/900 split assumes runs of thousands of steps)"
        )


class Anchors:
    """The anchors w~_align and w~_ft (step 3): detached copies of the trainable parameters."""

    def __init__(self, params: Sequence[torch.Tensor]):
        self.params = list(params)
        self.align = self._snapshot()
        self.finetune = self._snapshot()

    def _snapshot(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.params]

    def switch_to(self, new_state: str) -> None:
        """Store the weights that the ending state reached as that state's anchor."""
        if new_state == FINETUNE:
            self.align = self._snapshot()
        else:
            self.finetune = self._snapshot()

    def pulling(self, state: str) -> list[torch.Tensor]:
        """The anchor that ``state`` is pulled toward: the *other* state's ((L1), (L2))."""
        return self.finetune if state == ALIGNMENT else self.align


class Trainer(HFTTrainer):
    """Fine-tuning with Lisa: alternate alignment and user steps, each with its proximal term (steps 1-5).

    Needs ``extra_datasets={"alignment": rows}`` unless ``alignment_steps == 0``. ``history`` records, per
    optimizer step, (step, state, proximal term on?); ``switches`` the steps at which the state changed.
    """

    config_class, config_check = Config, check_config

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.defense_config.alignment_steps > 0 and "alignment" not in self.extra_datasets:
            raise ValueError("lisa: needs extra_datasets={'alignment': rows} (or alignment_steps=0)")
        self.anchors: Anchors | None = None
        self.lisa_state: str | None = None
        self.history: list[tuple[int, str, bool]] = []
        self.switches: list[int] = []

    def defense_step(self, model, inputs):
        config = self.defense_config
        step = self.state.global_step  # optimizer steps done so far: the same for every micro-batch of a step
        params = self.trainable_parameters(model)
        state = state_at(step, config.alignment_steps, config.finetune_steps)
        if self.anchors is None:  # first step: both anchors are the initial weights
            check_run_length(config, self.state.max_steps)
            self.anchors = Anchors(params)
            self.lisa_state = state
        elif state != self.lisa_state:  # step 3: a switch stores the ending state's anchor
            self.anchors.switch_to(state)
            self.lisa_state = state
            self.switches.append(step)

        batch = self.next_extra_batch("alignment") if state == ALIGNMENT else inputs  # step 2
        proximal_on = config.rho > 0 and proximal_active(step, self.state.max_steps, config.warmup_fraction)
        if not self.history or self.history[-1][0] != step:
            self.history.append((step, state, proximal_on))
        anchor = self.anchors.pulling(state)

        def loss_fn(model, batch):  # step 4: (L1) or (L2)
            loss = self.lm_loss(model, batch)
            if proximal_on:
                loss = loss + proximal_term(params, anchor, config.rho)
            return loss

        return self.forward_backward(model, batch, loss_fn)
