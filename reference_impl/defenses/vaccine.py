"""Vaccine: perturbation-aware alignment.

Paper
-----
Huang, Hu, Liu. *Vaccine: Perturbation-aware Alignment for Large Language Models against Harmful Fine-tuning
Attack* (NeurIPS 2024). Knowledge-base record ``vaccine-2024``, arXiv 2402.01109. Official code:
git-disl/Vaccine (``trainer.py``, class ``VaccineTrainer``).

Stage: **alignment** (it replaces plain SFT when the provider aligns the base model). Needs: the alignment set
(harmful prompt -> safe answer). No harmful data, and nothing at fine-tuning time: the user's fine-tuning that
follows is plain SFT.

Algorithm
---------
Vaccine hardens the aligned model against *embedding drift*, the change of hidden representations that harmful
fine-tuning causes. It solves the min-max problem of the paper's method section

    (V1)  min_w  max_{||eps|| <= rho}  L( f~_{w_L, eps_L} o ... o f~_{w_1, eps_1}(e_0), y ),
          f~_{w_l, eps_l}(e) = f_{w_l}(e) + eps_l

approximating the inner maximisation by one normalised gradient step (SAM-style, but in activation space):

    (V2)  eps_l = rho * g_l / || (||g_1||, ..., ||g_L||) ||_2,   g_l = dL/de_l at eps = 0
    (V3)  w <- w - lr * grad_w L(w; eps)    (eps held constant)

(Equation labels are this docstring's own; the paper states the same problem and update in its method section.)
Each optimisation step on an alignment batch:

1. Select the perturbed modules: every self-attention sub-module. The perturbation lands on the attention
   output *before* the residual add (official trainer: forward hooks on ``LlamaAttention``/``OPTAttention``).
2. Pass 1: forward + backward of the causal-LM loss on the batch, recording g_l = dL/d(attention output of
   layer l), a [batch, tokens, hidden] tensor per layer.
3. eps_l by (V2), with 1e-7 added to the global norm (official trainer). eps is a constant: no gradient flows
   through it. Pass 1's parameter gradients are discarded.
4. Pass 2: forward with eps_l added to each attention output, backward: the gradient of (V3).
5. The optimizer (AdamW) steps with pass 2's gradient only. Only the LoRA weights are trainable.

Cost: 2 forward + 2 backward passes per step (about 2x SFT), once, at alignment time.

Caveat: rho is one norm over every layer, token and row of the batch, so the same rho is a much stronger
perturbation per token on a small model than on Llama-2-7B. Scale rho to the model. In the miniature world (2
layers, width 64) the paper's rho = 2 gives an aligned model that does not refuse and garbles its answers, and
only a much smaller rho aligns; the measured rho ablation is in ``reference_impl/results/miniature_world_ablation.json``
and on Vaccine's page of the site (``python -m reference_impl.experiments.miniature_world --ablation``).

Deviations
----------
* The official code records g_l with ``module.register_backward_hook``, which is deprecated and unreliable on
  modules that return tuples. Here a forward hook registers a *tensor* hook on ``output[0]``; the hook
  overwrites its slot rather than adding to it, and the step is unchanged with gradient checkpointing on
  (reentrant or not; tested).
* The official trainer zeroes all parameter gradients after pass 1. Under gradient accumulation that also wipes
  the gradients accumulated by the earlier micro-batches of the same optimizer step (the official scripts use
  accumulation 1, so it never shows there). Here the gradients already accumulated are set aside during pass 1
  and put back, so accumulation works.
* Attention modules are found by the shared module discovery (``common.models.attention_modules``: the
  ``self_attn``/``attn``/``self_attention``/``attention`` child of each decoder layer, through peft wrappers)
  instead of the official code's fixed list of attention classes (Llama, OPT).
* ``rho`` defaults to 2, the value of the official Llama-2 alignment script and README. Booster's re-run of
  Vaccine uses rho = 5, SafeTuneBed uses 0.1: pass ``--set method_config.rho=...`` to match them.
* The "RandomVaccine" ablation (Gaussian noise instead of the gradient direction) is not implemented.

Usage
-----
Command line (the pipeline aligns with Vaccine, then fine-tunes with plain SFT and evaluates)::

    python -m reference_impl run config.yaml --method vaccine --set method_config.rho=2

Python::

    from reference_impl.defenses import vaccine
    trainer = vaccine.Trainer(model=model, args=training_args, train_dataset=alignment_set,
                              defense_config=vaccine.Config(rho=2.0))
    trainer.train()

The paper's training settings for the alignment stage (official ``script/alignment/Vaccine.sh``): 2000 BeaverTails
safe rows, lr 1e-3, 50 epochs, batch size 5, cosine schedule, warmup 0.1, weight decay 0.1, LoRA r=8, alpha=4 on
q,k,v,o,up,down,gate, max length 200, bf16.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

from reference_impl.common.method import MethodSpec
from reference_impl.common.needs import require
#: Added to the global norm before dividing (official trainer), so an all-zero gradient gives eps = 0.
NORM_FLOOR = 1e-7


# `duplicates` pairs the field(default=..., metadata={help, source}) declarations below with the other defenses'
# Configs: same shape, different data (each field's paper default and its source); there is no logic to share.
@dataclass(frozen=True)
class Config:
    """Vaccine's own hyper-parameters (the training ones live in the run configuration)."""

    rho: float = field(
        default=2.0,
        metadata={
            "help": "Perturbation intensity: the global L2 norm of the perturbation added to the attention outputs.",
            "source": "official script/alignment/Vaccine.sh and README ('perturbation intensity=2', Llama-2-7B)",
        },
    )


def check_config(config: Config, context: object = None) -> None:
    """Reject a configuration Vaccine cannot run with, before any training.

    ``context`` describes what the run has (datasets, models); Vaccine needs the alignment set.
    """
    if not isinstance(config.rho, (int, float)) or isinstance(config.rho, bool):
        raise ValueError(f"vaccine: rho must be a number, got {config.rho!r}")
    if not config.rho > 0:
        raise ValueError(f"vaccine: rho must be > 0 (the perturbation's norm), got {config.rho}")
    require(context, "alignment_data", "vaccine: needs an alignment dataset (harmful prompt -> safe answer)")


METHOD = MethodSpec(stage="alignment", config=Config, needs=("alignment_data",), check=check_config, trainer="Trainer",
                    overhead=2.3)


# ==========================================================================================================
# DEFENSE LOGIC
# ==========================================================================================================

import torch  # noqa: E402  (below the banner: the part above reads without torch)

from reference_impl.common.harness import HFTTrainer  # noqa: E402


def _hidden(output):
    """The hidden state of a module output: attention modules return a tuple whose first item it is."""
    return output[0] if isinstance(output, tuple) else output


@contextmanager
def capture_output_gradients(modules: Sequence[torch.nn.Module]) -> Iterator[dict[int, torch.Tensor]]:
    """Record dL/d(output[0]) of each module during the next backward: ``{module index: gradient}`` (step 2).

    A forward hook registers a tensor hook on the module's output. A re-fired forward (gradient checkpointing
    recomputes it) registers a new hook on the recomputed tensor; the slot is overwritten, never added to.
    """
    grads: dict[int, torch.Tensor] = {}

    def make_forward_hook(index: int):
        def store(grad):
            grads[index] = grad.detach()

        def forward_hook(module, args, output):
            hidden = _hidden(output)
            if hidden.requires_grad:
                hidden.register_hook(store)

        return forward_hook

    handles = [module.register_forward_hook(make_forward_hook(i)) for i, module in enumerate(modules)]
    try:
        yield grads
    finally:
        for handle in handles:
            handle.remove()


def perturbation(grads: Sequence[torch.Tensor], rho: float) -> list[torch.Tensor]:
    """eps_l = rho * g_l / (G + 1e-7), G the L2 norm of all layers' Frobenius norms together (step 3, (V2))."""
    global_norm = torch.linalg.vector_norm(torch.stack([g.float().norm(2) for g in grads]), 2)
    return [(rho * g.float() / (global_norm + NORM_FLOOR)).to(g.dtype).detach() for g in grads]


@contextmanager
def added_to_outputs(modules: Sequence[torch.nn.Module], deltas: Sequence[torch.Tensor]) -> Iterator[None]:
    """Add ``deltas[i]`` to the hidden-state output of ``modules[i]`` while the context is open (step 4)."""

    def make_forward_hook(delta):
        def forward_hook(module, args, output):
            if isinstance(output, tuple):
                return (output[0] + delta, *output[1:])
            return output + delta

        return forward_hook

    handles = [module.register_forward_hook(make_forward_hook(d)) for module, d in zip(modules, deltas)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _plain_pass(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    loss = model(**batch).loss
    loss.backward()
    return loss.detach()


def vaccine_gradients(
    model: torch.nn.Module,
    batch: dict,
    modules: Sequence[torch.nn.Module],
    rho: float,
    forward_backward: Callable[[torch.nn.Module, dict], torch.Tensor] = _plain_pass,
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """One Vaccine step's gradients (steps 2-4).

    Afterwards each trainable parameter's ``.grad`` holds what it held before plus the gradient of the loss at
    the perturbed attention outputs, and nothing from pass 1. ``forward_backward(model, batch)`` runs one
    forward and backward pass (gradients added to ``.grad``) and returns the detached loss.
    Returns (loss of pass 1, loss of pass 2, the perturbations eps_l).
    """
    params = [p for p in model.parameters() if p.requires_grad]

    # Pass 1: gradients of the attention outputs. Gradients accumulated by earlier micro-batches are set
    # aside, so that this pass's parameter gradients can be dropped without touching them.
    set_aside = [p.grad for p in params]
    for p in params:
        p.grad = None
    with capture_output_gradients(modules) as grads:
        loss_clean = forward_backward(model, batch)
    for p, grad in zip(params, set_aside):
        p.grad = grad
    missing = [i for i in range(len(modules)) if i not in grads]
    if missing:
        raise RuntimeError(f"vaccine: no gradient reached the output of attention module(s) {missing}")
    eps = perturbation([grads[i] for i in range(len(modules))], rho)

    # Pass 2: the loss at the perturbed embeddings; its gradient is the only one that reaches the optimizer.
    with added_to_outputs(modules, eps):
        loss_perturbed = forward_backward(model, batch)
    return loss_clean, loss_perturbed, eps


class Trainer(HFTTrainer):
    """Alignment with Vaccine: each step descends the loss at perturbed attention outputs (steps 1-5)."""

    config_class, config_check = Config, check_config

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.last_losses: dict[str, float] = {}

    def defense_step(self, model, inputs):
        loss_clean, loss_perturbed, _ = vaccine_gradients(
            model, inputs, self.attention_modules(model), self.defense_config.rho, self.forward_backward
        )
        self.last_losses = {"loss": float(loss_clean), "perturbed_loss": float(loss_perturbed)}
        # Logged: the loss at the perturbed embeddings, the objective being minimised ((V1)).
        return loss_perturbed
