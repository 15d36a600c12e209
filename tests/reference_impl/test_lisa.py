"""Lisa's own logic (site/reference/protocol.md, 'Implementation notes'): state switches, proximal warm-up, anchors, and the proximal gradient."""

import pytest
import torch

from reference_impl.common.harness import training_arguments
from reference_impl.common.models import LoraSettings, add_lora
from reference_impl.common.templates import Collator
from reference_impl.defenses import lisa
from reference_impl.defenses.lisa import ALIGNMENT, FINETUNE


def test_state_machine_alternates_in_blocks():
    states = [lisa.state_at(t, alignment_steps=2, finetune_steps=3) for t in range(11)]
    a, f = ALIGNMENT, FINETUNE
    assert states == [a, a, f, f, f, a, a, f, f, f, a]
    # The paper's default: 100 alignment steps, then 900 fine-tuning steps, and again.
    assert [lisa.state_at(t, 100, 900) for t in (0, 99, 100, 999, 1000, 1099, 1100)] == [a, a, f, f, a, a, f]
    # No alignment steps: plain fine-tuning throughout.
    assert {lisa.state_at(t, 0, 900) for t in range(50)} == {f}


def test_proximal_term_is_off_for_the_first_tenth_of_steps():
    on = [t for t in range(100) if lisa.proximal_active(t, total_steps=100, warmup_fraction=0.1)]
    assert on == list(range(11, 100))  # off while step <= 10 = 0.1 * 100, as the official `steps > 0.1 * total`


def test_proximal_term_value_and_gradient():
    params = [torch.randn(3, 4, requires_grad=True), torch.randn(5, requires_grad=True)]
    anchor = [torch.randn(3, 4), torch.randn(5)]
    rho = 0.7
    term = lisa.proximal_term(params, anchor, rho)
    flat = torch.cat([(p - a).flatten() for p, a in zip(params, anchor)])
    assert term.item() == pytest.approx(rho / 2 * flat.dot(flat).item(), rel=1e-6)
    term.backward()
    for p, a in zip(params, anchor):
        assert torch.allclose(p.grad, rho * (p.detach() - a))


def test_anchors_store_the_ending_states_weights():
    w = torch.zeros(2)
    anchors = lisa.Anchors([w])
    assert torch.equal(anchors.align[0], w) and torch.equal(anchors.finetune[0], w)
    w += 1  # alignment phase moved the weights
    anchors.switch_to(FINETUNE)
    assert torch.equal(anchors.align[0], torch.ones(2)) and torch.equal(anchors.finetune[0], torch.zeros(2))
    assert anchors.pulling(FINETUNE) is anchors.align
    w += 1  # fine-tuning phase
    anchors.switch_to(ALIGNMENT)
    assert torch.equal(anchors.finetune[0], 2 * torch.ones(2)) and torch.equal(anchors.align[0], torch.ones(2))
    assert anchors.pulling(ALIGNMENT) is anchors.finetune


def mark(rows, token_id):
    """Rows whose second token is `token_id`, so a batch tells which dataset it came from."""
    return [{"input_ids": [r["input_ids"][0], token_id, *r["input_ids"][2:]], "labels": r["labels"]} for r in rows]


class RecordingTrainer(lisa.Trainer):
    """Records, per call, the step, the batch's source marker and the weights at the start of the step."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def defense_step(self, model, inputs):
        weights = [p.detach().clone() for p in self.trainable_parameters(model)]
        original = self.forward_backward
        seen = {}

        def spy(model, batch, loss_fn=None):
            seen["marker"] = int(batch["input_ids"][0, 1])
            seen["batch"] = batch
            seen["loss_fn"] = loss_fn
            return original(model, batch, loss_fn)

        self.forward_backward = spy
        try:
            loss = super().defense_step(model, inputs)
        finally:
            self.forward_backward = original
        self.calls.append((self.state.global_step, seen["marker"], weights, seen))
        return loss


@pytest.fixture
def marked(tokenized):
    return {"user": mark(tokenized["benign"] + tokenized["harmful"], 7), "alignment": mark(tokenized["alignment"], 8)}


def run_lisa(model, tokenizer, marked, tmp_path, config, max_steps=12, accumulation=1):
    args = training_arguments(
        tmp_path, per_device_train_batch_size=2, gradient_accumulation_steps=accumulation, max_steps=max_steps,
        learning_rate=5e-3, use_cpu=True,
    )
    trainer = RecordingTrainer(
        model=model,
        args=args,
        train_dataset=marked["user"],
        data_collator=Collator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        extra_datasets={"alignment": marked["alignment"]},
        defense_config=config,
    )
    trainer.train()
    return trainer


def test_trainer_switches_uses_the_right_data_and_updates_anchors(tiny_model, tiny_tokenizer, marked, tmp_path):
    model = add_lora(tiny_model, LoraSettings(r=4, alpha=8, dropout=0.0))
    config = lisa.Config(rho=1.0, alignment_steps=2, finetune_steps=3, warmup_fraction=0.1)
    trainer = run_lisa(model, tiny_tokenizer, marked, tmp_path, config, max_steps=12)

    states = [state for _, state, _ in trainer.history]
    a, f = ALIGNMENT, FINETUNE
    assert states == [a, a, f, f, f, a, a, f, f, f, a, a]
    assert trainer.switches == [2, 5, 7, 10]
    # Alignment steps train on alignment batches, fine-tuning steps on the user's batches.
    assert [marker for _, marker, _, _ in trainer.calls] == [8 if s == a else 7 for s in states]
    # The proximal term is off while step <= 0.1 * 12, i.e. for steps 0 and 1.
    assert [on for _, _, on in trainer.history] == [False, False] + [True] * 10

    # Anchors: the weights at the start of the step of the latest switch of each kind.
    weights_at = {step: weights for step, _, weights, _ in trainer.calls}
    for got, want in zip(trainer.anchors.align, weights_at[7]):  # last alignment -> fine-tuning switch
        assert torch.equal(got, want)
    for got, want in zip(trainer.anchors.finetune, weights_at[10]):  # last fine-tuning -> alignment switch
        assert torch.equal(got, want)
    assert not all(torch.equal(x, y) for x, y in zip(weights_at[7], weights_at[10]))  # the weights did move


def test_trainer_loss_is_task_loss_plus_the_proximal_term_toward_the_other_anchor(
    tiny_model, tiny_tokenizer, marked, tmp_path
):
    model = add_lora(tiny_model, LoraSettings(r=4, alpha=8, dropout=0.0))
    config = lisa.Config(rho=3.0, alignment_steps=2, finetune_steps=3, warmup_fraction=0.1)
    trainer = run_lisa(model, tiny_tokenizer, marked, tmp_path, config, max_steps=4)
    # Step 3 is a fine-tuning step with the proximal term on: it pulls toward w~_align = weights at step 2.
    step, _, weights, seen = trainer.calls[3]
    assert step == 3
    params = trainer.trainable_parameters(model)
    with torch.no_grad():
        current = [p.detach().clone() for p in params]
        for p, w in zip(params, weights):  # evaluate the loss function at the weights the step saw
            p.copy_(w)
        got = seen["loss_fn"](model, seen["batch"]).item()
        task = trainer.lm_loss(model, seen["batch"]).item()
        anchor = trainer.calls[2][2]
        expected = task + 3.0 / 2 * sum(((w - a) ** 2).sum().item() for w, a in zip(weights, anchor))
        for p, c in zip(params, current):
            p.copy_(c)
    assert expected > task + 1e-6  # the anchor differs from the weights, so the term is visible
    assert got == pytest.approx(expected, rel=1e-5)


def test_with_gradient_accumulation_one_optimizer_step_never_mixes_states(tiny_model, tiny_tokenizer, marked, tmp_path):
    model = add_lora(tiny_model, LoraSettings(r=4, alpha=8, dropout=0.0))
    config = lisa.Config(rho=1.0, alignment_steps=1, finetune_steps=2, warmup_fraction=0.1)
    trainer = run_lisa(model, tiny_tokenizer, marked, tmp_path, config, max_steps=4, accumulation=2)
    markers_by_step = {}
    for step, marker, _, _ in trainer.calls:
        markers_by_step.setdefault(step, []).append(marker)
    assert markers_by_step == {0: [8, 8], 1: [7, 7], 2: [7, 7], 3: [8, 8]}
    assert trainer.switches == [1, 3]


def test_zero_alignment_steps_is_plain_fine_tuning_without_alignment_data(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    model = add_lora(tiny_model, LoraSettings(r=4, alpha=8, dropout=0.0))
    args = training_arguments(tmp_path, per_device_train_batch_size=2, max_steps=3, use_cpu=True)
    trainer = lisa.Trainer(
        model=model, args=args, train_dataset=tokenized["benign"], data_collator=Collator(tiny_tokenizer.pad_token_id),
        processing_class=tiny_tokenizer, defense_config=lisa.Config(alignment_steps=0),
    )
    trainer.train()
    assert [state for _, state, _ in trainer.history] == [FINETUNE] * 3 and trainer.switches == []


def test_a_run_shorter_than_the_first_alignment_phase_is_refused(tiny_model, tiny_tokenizer, marked, tmp_path):
    model = add_lora(tiny_model, LoraSettings(r=4, alpha=8, dropout=0.0))
    from reference_impl.pipeline import PipelineError

    with pytest.raises(PipelineError, match="never train on the user's data"):
        run_lisa(model, tiny_tokenizer, marked, tmp_path, lisa.Config(alignment_steps=5, finetune_steps=45), max_steps=5)


def test_trainer_without_alignment_data_says_so(tiny_model, tmp_path):
    args = training_arguments(tmp_path, use_cpu=True)
    with pytest.raises(ValueError, match="alignment"):
        lisa.Trainer(model=tiny_model, args=args, defense_config=lisa.Config())


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"rho": -1.0}, "rho must be >= 0"),
        ({"warmup_fraction": 1.5}, "warmup_fraction"),
        ({"alignment_steps": -1}, "alignment_steps"),
        ({"finetune_steps": 0}, "finetune_steps must be > 0"),
        ({"finetune_steps": 2.5}, "finetune_steps"),
    ],
)
def test_check_config_rejects_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        lisa.check_config(lisa.Config(**changes))


def test_check_config_needs_alignment_data_unless_alignment_is_off():
    with pytest.raises(ValueError, match="alignment dataset"):
        lisa.check_config(lisa.Config(), {"alignment_data": False})
    lisa.check_config(lisa.Config(alignment_steps=0), {"alignment_data": False})


def test_defaults_are_the_papers():
    import dataclasses

    config = lisa.Config()
    assert (config.rho, config.alignment_steps, config.finetune_steps, config.warmup_fraction) == (1.0, 100, 900, 0.1)
    for f in dataclasses.fields(lisa.Config):
        assert f.metadata["help"] and f.metadata["source"]
