"""`HFTTrainer`: the `transformers.Trainer` subclass that every training-time defense extends.

Every git-disl defense is "SFT plus a custom training step" (site/reference/protocol.md, 'Pipeline'). Here the Trainer keeps its
own loop (optimizer, scheduler, gradient accumulation, clipping, mixed precision, checkpoints, `accelerate launch` /
torchrun with FSDP or DeepSpeed) and a defense overrides ONE method:

    class Trainer(HFTTrainer):
        def defense_step(self, model, inputs):      # inputs: the user's batch, already on the device
            loss = self.forward_backward(model, inputs)          # pass 1: grads land in p.grad
            ...                                                  # more passes, gradient surgery, hooks
            return loss                                          # detached, for logging

`training_step(model, inputs, num_items_in_batch=None)` (the current signature) calls `defense_step`, stops the run
on a NaN/inf loss with the step number (`NonFiniteLossError`), and returns the loss scaled for logging.

A defense that sets `self.last_losses = {name: value}` in its step gets each component averaged into the
Trainer's logs as `defense/<name>` and over the run by `loss_components()` (the pipeline logs them and puts them in
the result row).

Helpers: `extra_datasets={"alignment": rows, "harmful": rows}` + `next_extra_batch(name)` (an endless, re-shuffled
dataloader per name, batches collated and on the device); `lm_loss`; `forward_backward`; `trainable_parameters`;
`grads()` / `set_grads()`; `perturbed_weights({param: delta})`; `forward_hooks(modules, hook)`; and module
discovery (`attention_modules` / `mlp_modules` / `decoder_layers`, re-exported from `common.models`).

Loss scaling: each pass is the mean cross-entropy over the response tokens of its micro-batch, divided by the
number of gradient-accumulation micro-batches, as the git-disl repositories (transformers 4.34) computed it;
`num_items_in_batch` is accepted and not used, so a defense's gradient does not depend on the other micro-batches.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Iterator, Mapping

import torch
from accelerate.utils import DistributedType
from torch import nn
from transformers import Trainer

from .models import attention_modules, decoder_layers, mlp_modules  # noqa: F401  (re-exported for defenses)
from .templates import Collator
from .training_args import training_arguments  # noqa: F401 - where the stages and the world's pre-training get it


class NonFiniteLossError(RuntimeError):
    """Raised when a training loss is NaN or infinite; `step` is the optimizer step that produced it (1-based)."""

    def __init__(self, step: int, loss: float):
        super().__init__(f"loss became {loss} at step {step}; training stopped")
        self.step = step
        self.loss = loss


class HFTTrainer(Trainer):
    """A `Trainer` whose training step is `defense_step` (plain SFT by default).

    Extra keyword arguments:
    * `extra_datasets`: name -> tokenised rows (dicts with input_ids/labels); read with `next_extra_batch(name)`.
    * `extra_batch_size`: default batch size of those loaders (default: `per_device_train_batch_size`).
    * `defense_config`: the method's frozen Config dataclass, stored as `self.defense_config`.

    Class attributes a defense's Trainer sets instead of repeating the same `__init__`:
    * `config_class`: its Config; a missing `defense_config` then means the paper defaults.
    * `config_check`: its `check_config(config)`, run before the Trainer is built (a ValueError stops it).
    * `required_extra`: extra dataset name -> what it holds, for the datasets it cannot run without.
    """

    config_class: type | None = None
    config_check: Callable[[Any], None] | None = None
    required_extra: Mapping[str, str] = {}

    def __init__(
        self,
        *args,
        extra_datasets: Mapping[str, Any] | None = None,
        extra_batch_size: int | None = None,
        defense_config: Any = None,
        **kwargs,
    ):
        if defense_config is None and self.config_class is not None:
            defense_config = self.config_class()
        if type(self).config_check is not None and defense_config is not None:
            type(self).config_check(defense_config)  # the plain function (a class attribute, not a method)
        super().__init__(*args, **kwargs)
        self.extra_datasets = dict(extra_datasets or {})
        for name, holds in self.required_extra.items():
            if name not in self.extra_datasets:
                defense = type(self).__module__.rsplit(".", 1)[-1]
                raise ValueError(f"{defense}: needs extra_datasets={{'{name}': rows}} ({holds})")
        self.extra_batch_size = extra_batch_size
        self.defense_config = defense_config
        self._extra_iterators: dict[tuple[str, int], Iterator] = {}
        self._extra_epochs: dict[tuple[str, int], int] = {}
        # Loss components (`last_losses`, set by a defense's step): [sum, count] per name, over the run and since
        # the last log (TRL's habit: each term of the objective logged, here as `defense/<name>`).
        self._components: dict[str, list[float]] = {}
        self._window: dict[str, list[float]] = {}
        self._recorded: Any = None

    # ------------------------------------------------------------------------------------------------
    # The step

    def training_step(self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch=None) -> torch.Tensor:
        model.train()
        if hasattr(self.optimizer, "train") and callable(self.optimizer.train):
            self.optimizer.train()
        inputs = self._prepare_inputs(inputs)
        loss = self.defense_step(model, inputs)
        self._record_components()
        loss = torch.as_tensor(loss, device=self.args.device).detach().float()
        if not torch.isfinite(loss):
            raise NonFiniteLossError(self.state.global_step + 1, float(loss))
        # The Trainer sums the returned values over the accumulation micro-batches for its logs.
        return loss / self._accumulation_steps()

    def _record_components(self) -> None:
        """Add this step's `last_losses` (a new dict each step; one left unchanged is not counted twice)."""
        latest = getattr(self, "last_losses", None)
        if not latest or latest is self._recorded:
            return
        self._recorded = latest
        for name, value in latest.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, torch.Tensor)):
                continue
            value = float(value)
            for store in (self._components, self._window):
                total = store.setdefault(name, [0.0, 0])
                total[0] += value
                total[1] += 1

    def loss_components(self) -> dict[str, float]:
        """Each loss component's mean over the steps so far (empty for a defense that records none)."""
        return {name: round(total / count, 6) for name, (total, count) in self._components.items()}

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        """The Trainer's log, plus `defense/<name>`: each component's mean since the last log."""
        logs = {**logs, **{f"defense/{name}": round(total / count, 6) for name, (total, count) in self._window.items()}}
        self._window = {}
        super().log(logs, *args, **kwargs)

    def defense_step(self, model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """THE override point: put this micro-batch's gradient into `.grad`, return the detached loss to log.

        Default: plain SFT, one forward and one backward on the user's batch.
        """
        return self.forward_backward(model, inputs)

    # ------------------------------------------------------------------------------------------------
    # Losses and passes

    def lm_loss(self, model: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Mean next-token cross-entropy on the response tokens (labels are -100 on the prompt and padding)."""
        outputs = model(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"), labels=batch["labels"])
        return outputs.loss

    def backward(self, loss: torch.Tensor) -> None:
        """loss.backward() scaled for gradient accumulation, through accelerate (mixed precision, DeepSpeed)."""
        kwargs = {}
        if self.accelerator.distributed_type == DistributedType.DEEPSPEED:
            kwargs["scale_wrt_gas"] = False  # as Trainer.training_step does: we scale by the accumulation steps here
        self.accelerator.backward(loss / self._accumulation_steps(), **kwargs)

    def forward_backward(
        self, model: nn.Module, batch: Mapping[str, torch.Tensor], loss_fn: Callable | None = None
    ) -> torch.Tensor:
        """One forward + backward pass (gradients ADD to `.grad`); returns the detached, unscaled loss.

        `loss_fn(model, batch) -> scalar tensor` defaults to `lm_loss`.
        """
        with self.compute_loss_context_manager():
            loss = (loss_fn or self.lm_loss)(model, batch)
        self.backward(loss)
        return loss.detach()

    def _accumulation_steps(self) -> int:
        steps = getattr(self, "current_gradient_accumulation_steps", None)
        return int(steps or self.args.gradient_accumulation_steps or 1)

    # ------------------------------------------------------------------------------------------------
    # Extra data (alignment set for Lisa, harmful set for Booster, ...)

    def next_extra_batch(self, name: str, batch_size: int | None = None) -> dict[str, torch.Tensor]:
        """The next batch of `extra_datasets[name]`, collated and on the device.

        Endless: when a pass over the data ends, a new one starts in a new random order (RandomSampler, as the
        repos' `iter(DataLoader)` restarts). Deterministic for a given `args.seed`.
        """
        if name not in self.extra_datasets:
            available = ", ".join(sorted(self.extra_datasets)) or "none"
            raise KeyError(f"no extra dataset named {name!r} (available: {available})")
        size = batch_size or self.extra_batch_size or self.args.per_device_train_batch_size
        key = (name, size)
        iterator = self._extra_iterators.get(key)
        batch = next(iterator, None) if iterator is not None else None
        if batch is None:
            iterator = self._new_extra_iterator(name, size, epoch=self._extra_epochs.get(key, 0))
            self._extra_epochs[key] = self._extra_epochs.get(key, 0) + 1
            self._extra_iterators[key] = iterator
            batch = next(iterator, None)
            if batch is None:
                raise ValueError(f"extra dataset {name!r} is empty")
        return self._prepare_inputs(batch)

    def _new_extra_iterator(self, name: str, batch_size: int, epoch: int) -> Iterator:
        from torch.utils.data import DataLoader, RandomSampler

        generator = torch.Generator()
        # Different processes (torchrun) and passes draw different orders; the same run draws the same ones.
        offset = sum(ord(c) for c in name)
        generator.manual_seed(self.args.seed * 1000003 + offset * 101 + epoch * 7 + self.args.process_index)
        dataset = self.extra_datasets[name]
        loader = DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=RandomSampler(dataset, generator=generator),
            collate_fn=self._extra_collator(),
        )
        return iter(loader)

    def _extra_collator(self):
        if self.data_collator is not None:
            return self.data_collator
        return Collator(pad_token_id=self.processing_class.pad_token_id)

    # ------------------------------------------------------------------------------------------------
    # Parameters, gradients, perturbations, hooks

    def trainable_parameters(self, model: nn.Module | None = None) -> list[nn.Parameter]:
        """The parameters the optimizer updates (the LoRA weights under peft), in a fixed order."""
        model = model if model is not None else self.model
        return [p for p in model.parameters() if p.requires_grad]

    def grads(self, params: Iterable[nn.Parameter] | None = None) -> list[torch.Tensor | None]:
        """Copies of the current `.grad` of each parameter (None where there is none)."""
        params = list(params) if params is not None else self.trainable_parameters()
        return [None if p.grad is None else p.grad.detach().clone() for p in params]

    def set_grads(self, params: Iterable[nn.Parameter], grads: Iterable[torch.Tensor | None]) -> None:
        """Overwrite `.grad` (gradient surgery): each parameter gets the given tensor, or None."""
        for p, g in zip(params, grads, strict=True):
            p.grad = None if g is None else g.to(dtype=p.dtype, device=p.device).clone()

    def zero_grads(self, params: Iterable[nn.Parameter] | None = None) -> None:
        for p in params if params is not None else self.trainable_parameters():
            p.grad = None

    @staticmethod
    def global_norm(tensors: Iterable[torch.Tensor | None]) -> torch.Tensor:
        """‖(‖t_1‖, ..., ‖t_n‖)‖₂ over the tensors that are not None (one norm over all layers)."""
        norms = [t.detach().float().norm(2) for t in tensors if t is not None]
        if not norms:
            return torch.tensor(0.0)
        return torch.stack([n.to(norms[0].device) for n in norms]).norm(2)

    @contextlib.contextmanager
    def perturbed_weights(self, deltas: Mapping[nn.Parameter, torch.Tensor]):
        """Inside the block each parameter holds w + delta; on exit w is restored bit-for-bit (from a copy)."""
        originals = []
        try:
            with torch.no_grad():
                for p, delta in deltas.items():
                    originals.append((p, p.detach().clone()))
                    p.add_(delta.to(dtype=p.dtype, device=p.device))
            yield
        finally:
            with torch.no_grad():
                for p, original in originals:
                    p.copy_(original)

    @staticmethod
    @contextlib.contextmanager
    def forward_hooks(modules: Iterable[nn.Module], hook: Callable):
        """Register `hook(module, args, output)` (return a new output to replace it) on each module; removed on exit."""
        handles = [m.register_forward_hook(hook) for m in modules]
        try:
            yield handles
        finally:
            for handle in handles:
                handle.remove()

    # Module discovery, as methods for convenience (they see through peft / DDP wrappers).
    @staticmethod
    def attention_modules(model: nn.Module) -> list[nn.Module]:
        return attention_modules(model)

    @staticmethod
    def mlp_modules(model: nn.Module) -> list[nn.Module]:
        return mlp_modules(model)

    @staticmethod
    def decoder_layers(model: nn.Module) -> list[nn.Module]:
        return decoder_layers(model)
