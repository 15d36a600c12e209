"""T-Vaccine: targeted Vaccine, perturbing only the safety-critical layers and freezing the others.

Paper
-----
Liu, Lin, Huang, Mo, Mu, Shen. *Targeted Vaccine: Safety Alignment for Large Language Models against Harmful
Fine-Tuning via Layer-wise Perturbation* (arXiv 2410.09760). Knowledge-base record ``t-vaccine-2024``. Official
code: Lslland/T-Vaccine (``trainer.py``, class ``BaseTrainer``).

Stage: **alignment**. Needs: the alignment set (harmful prompt -> refusal) and a small harmful "probe" set
(harmful prompt -> harmful answer) whose gradients say which layers matter for safety.

Algorithm
---------
Vaccine (``defenses/vaccine.py``) perturbs the attention output of every layer. T-Vaccine spends the perturbation,
and the training, only on the layers that a harmful gradient moves the most (the paper and the official code named above):

1. Every K = ``probability_steps`` optimizer steps (and at step 0): with every attention LoRA trainable, one
   forward and backward on a harmful probe batch (batch size 1). The norm n_l = ||dL_h / de_l||_2 of the gradient
   of each attention output e_l gives the sampling probabilities p_l = n_l / sum_j n_j. The probe's parameter
   gradients are dropped.
2. Every J = ``resample_steps`` optimizer steps: draw S = ``sampled_layers`` layer indices without replacement
   with probabilities p.
3. Freeze the LoRA weights of every attention module that was not chosen. The other trainable weights (the MLP
   LoRA) stay trainable from the lowest chosen layer upward (from the one below it on models with more than 26
   layers) and are frozen below it: the official code freezes nothing outside the attention modules, and under
   its checkpointing no gradient reaches a layer below the lowest one it runs without a checkpoint.
4. Vaccine's two passes on the alignment batch, with the perturbation eps_l = rho * g_l / ||g|| and its global
   norm over the S chosen layers only; the optimizer steps on the pass-2 gradient of the unfrozen weights.

Cost: Vaccine's two passes per step, but the backward stops at the lowest chosen layer and only S attention
modules carry gradients and perturbations (less memory than Vaccine), plus one probe pass every K steps.

Deviations
----------
Checked against Lslland/T-Vaccine (commit 4513750): ``trainer.py`` ``training_step`` (L151-237) and
``unfreeze_activate_layers`` (L240-250), ``models/modeling_llama_my_new.py`` (L1002-1012).

* Which weights train. ``unfreeze_activate_layers`` sets ``requires_grad`` only on the parameters of the
  attention modules (``self.layers`` is ``get_leaf_modules_with_grad``: the attention modules), so the MLP LoRA
  (the official LoRA targets q, k, v, o, up, down and gate) is never frozen. The patched modeling file runs
  every decoder layer not in ``activate_layers`` through ``torch.utils.checkpoint.checkpoint`` (reentrant), whose
  output needs no gradient when its input needs none: the backward stops at the lowest layer run without a
  checkpoint, so MLP LoRA below it gets no gradient and above it does (``activate_layers`` is the chosen layers,
  plus i - 1 for each chosen i > 0 on models with more than 26 layers). Here nothing is checkpointed and the
  same set of weights is made trainable with ``requires_grad``: the same gradients (tested against a reentrant
  checkpoint run), with more activation memory.
* Steps are optimizer steps (``state.global_step``); with gradient accumulation every micro-batch of one step uses
  the same chosen layers.
* The sampling uses a generator seeded from the run's seed, so a re-run draws the same layers.

Usage
-----
Command line (align with T-Vaccine, then plain SFT fine-tuning)::

    python -m reference_impl run config.yaml --method t_vaccine --set method_config.rho=3

Python::

    from reference_impl.defenses import t_vaccine
    trainer = t_vaccine.Trainer(model=model, args=training_args, train_dataset=alignment_rows,
                                extra_datasets={"harmful": probe_rows}, defense_config=t_vaccine.Config())

The paper's alignment settings (official ``script/alignment/T-Vaccine.sh``): rho 3, S 8, J 20, K 200, 20 epochs,
batch size 10, lr 1e-3, cosine schedule, warmup 0.1, weight decay 0.1, max length 200, LoRA as Vaccine's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reference_impl.common.method import MethodSpec


# `duplicates` pairs the field(default=..., metadata={help, source}) declarations below with the other defenses'
# Configs: same shape, different data (each field's paper default and its source); there is no logic to share.
@dataclass(frozen=True)
class Config:
    """T-Vaccine's own hyper-parameters (the training ones live in the run configuration)."""

    rho: float = field(default=3.0, metadata={
        "help": "Perturbation intensity: the global norm of the perturbation over the chosen layers.",
        "source": "official script/alignment/T-Vaccine.sh (rho=3)"})
    sampled_layers: int = field(default=8, metadata={
        "help": "S: how many attention layers are perturbed and trained at a time.",
        "source": "official script (lisa_activated_layers=8)"})
    resample_steps: int = field(default=20, metadata={
        "help": "J: optimizer steps between two draws of the chosen layers.",
        "source": "official script (lisa_interval_steps=20)"})
    probability_steps: int = field(default=200, metadata={
        "help": "K: optimizer steps between two measurements of the harmful-gradient norms.",
        "source": "official script (probability_steps=200)"})
    probe_batch_size: int = field(default=1, metadata={
        "help": "Batch size of the harmful probe batch.", "source": "official trainer (harmful probe batch size 1)"})


def check_config(config: Config, context: object = None) -> None:
    """Reject a configuration T-Vaccine cannot run with, before any training."""
    if isinstance(config.rho, bool) or not isinstance(config.rho, (int, float)) or not config.rho > 0:
        raise ValueError(f"t_vaccine: rho must be a number > 0 (the perturbation's norm), got {config.rho!r}")
    for name in ("sampled_layers", "resample_steps", "probability_steps", "probe_batch_size"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"t_vaccine: {name} must be a positive integer, got {value!r}")
    if isinstance(context, dict):
        if not context.get("harmful_data"):
            raise ValueError("t_vaccine: needs a harmful probe set (harmful prompt -> harmful answer)")
        layers = context.get("num_layers")
        if layers and config.sampled_layers > layers:
            raise ValueError(f"t_vaccine: sampled_layers={config.sampled_layers} but the model has {layers} layers; "
                             f"set method_config.sampled_layers <= {layers}")


METHOD = MethodSpec(stage="alignment", config=Config, needs=("alignment_data", "harmful_data"), check=check_config, trainer="Trainer",
                    overhead=2.3, version=2)  # 2: MLP LoRA trains from the lowest chosen layer (issue 23)


# ==========================================================================================================
# DEFENSE LOGIC
# ==========================================================================================================

from typing import Sequence  # noqa: E402

import torch  # noqa: E402  (below the banner: the part above reads without torch)

from reference_impl.common.harness import HFTTrainer  # noqa: E402
from reference_impl.defenses.vaccine import capture_output_gradients, vaccine_gradients  # noqa: E402


def layer_probabilities(model, modules, probe_batch, forward_backward) -> torch.Tensor:
    """p_l = n_l / sum_j n_j with n_l = ||dL_h/de_l||_2 on the probe batch (step 1); parameter grads untouched."""
    params = [p for p in model.parameters() if p.requires_grad]
    set_aside = [p.grad for p in params]
    for p in params:
        p.grad = None
    with capture_output_gradients(modules) as grads:
        forward_backward(model, probe_batch)
    for p, grad in zip(params, set_aside):
        p.grad = grad
    missing = [i for i in range(len(modules)) if i not in grads]
    if missing:
        raise RuntimeError(f"t_vaccine: no harmful gradient reached attention module(s) {missing}")
    norms = torch.stack([grads[i].float().norm(2) for i in range(len(modules))])
    total = norms.sum()
    return norms / total if total > 0 else torch.full_like(norms, 1.0 / len(modules))


def sample_layers(probabilities: torch.Tensor, count: int, generator: torch.Generator) -> list[int]:
    """S distinct layer indices drawn with probabilities p, without replacement (step 2), in layer order."""
    weights = probabilities.clamp_min(1e-12)  # a layer with a zero gradient can still be drawn last
    return sorted(torch.multinomial(weights, count, replacement=False, generator=generator).tolist())


def lora_parameters_of(modules) -> list[torch.nn.Parameter]:
    """The LoRA weights inside the given modules (step 3)."""
    return [p for m in modules for name, p in m.named_parameters() if "lora_" in name]


#: Above this many decoder layers the official code also runs layer i - 1 of each chosen i without a checkpoint.
DEEP_MODEL_LAYERS = 26


def official_trainable(model, trainable, chosen: Sequence[int]) -> list[torch.nn.Parameter]:
    """The weights of `trainable` that get a gradient in the official step 3 (see Deviations): the LoRA of the
    chosen attention modules, and the other weights of every decoder layer from `lowest` upward (and any weight
    outside the decoder layers); attention weights of layers not chosen never do."""
    layers, attention = HFTTrainer.decoder_layers(model), HFTTrainer.attention_modules(model)
    lowest = min(chosen)
    if len(layers) > DEEP_MODEL_LAYERS and lowest > 0:
        lowest -= 1
    chosen_lora = {id(p) for p in lora_parameters_of([attention[i] for i in chosen])}
    in_attention = {id(p) for m in attention for p in m.parameters()}
    layer_of = {id(p): i for i, layer in enumerate(layers) for p in layer.parameters()}
    return [p for p in trainable
            if id(p) in chosen_lora
            or (id(p) not in in_attention and layer_of.get(id(p), lowest) >= lowest)]


class Trainer(HFTTrainer):
    """Alignment with T-Vaccine (steps 1-4). Needs extra_datasets["harmful"] (the probe set)."""

    config_class, config_check = Config, check_config
    required_extra = {"harmful": "the harmful probe set"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.generator = torch.Generator().manual_seed(self.args.seed)
        self.probabilities: torch.Tensor | None = None
        self.chosen: list[int] = []
        self._chosen_at = self._measured_at = -1
        self._trainable: list[torch.nn.Parameter] = []

    def train(self, *args, **kwargs):
        layers = len(self.attention_modules(self.model))
        if self.defense_config.sampled_layers > layers:
            raise ValueError(f"t_vaccine: sampled_layers={self.defense_config.sampled_layers} but the model has "
                             f"{layers} attention layers; set method_config.sampled_layers <= {layers}")
        self._trainable = [p for p in self.model.parameters() if p.requires_grad]
        try:
            return super().train(*args, **kwargs)
        finally:
            for p in self._trainable:  # leave the model as it came: every LoRA weight trainable
                p.requires_grad_(True)

    def defense_step(self, model, inputs):
        config, step = self.defense_config, self.state.global_step
        modules = self.attention_modules(model)
        if not self._trainable:  # stepped without train() (the bench): remember the weights before any freezing
            self._trainable = self.trainable_parameters(model)
        if self.probabilities is None or (step % config.probability_steps == 0 and step != self._measured_at):
            for p in self._trainable:
                p.requires_grad_(True)  # step 1: the probe needs a gradient at every attention output
            probe = self.next_extra_batch("harmful", config.probe_batch_size)
            self.probabilities = layer_probabilities(model, modules, probe, self.forward_backward)
            self._measured_at, self._chosen_at = step, -1
        if (step % config.resample_steps == 0 and step != self._chosen_at) or not self.chosen:
            self.chosen = sample_layers(self.probabilities, config.sampled_layers, self.generator)
            self._chosen_at = step
        self.freeze_all_but(model, self.chosen)
        _, loss_perturbed, _ = vaccine_gradients(
            model, inputs, [modules[i] for i in self.chosen], config.rho, self.forward_backward
        )
        return loss_perturbed

    def freeze_all_but(self, model, chosen: Sequence[int]) -> None:
        """Step 3: keep trainable the LoRA of the chosen attention modules and every non-attention weight from the
        lowest layer the official code runs without a checkpoint upward; freeze the rest."""
        keep = {id(p) for p in official_trainable(model, self._trainable, chosen)}
        for p in self._trainable:
            p.requires_grad_(id(p) in keep)
            if id(p) not in keep:
                p.grad = None
