import pytest
import torch

from reference_impl.common.harness import HFTTrainer, NonFiniteLossError, training_arguments
from reference_impl.common.models import LoraSettings, add_lora, attention_modules
from reference_impl.common.templates import Collator


def make_trainer(model, tokenizer, train, tmp_path, cls=HFTTrainer, **kwargs):
    args = training_arguments(
        tmp_path / "out",
        per_device_train_batch_size=kwargs.pop("batch_size", 4),
        gradient_accumulation_steps=kwargs.pop("accumulation", 1),
        learning_rate=kwargs.pop("lr", 1e-2),
        max_steps=kwargs.pop("max_steps", 3),
        use_cpu=True,
        **kwargs.pop("args", {}),
    )
    return cls(
        model=model,
        args=args,
        train_dataset=train,
        data_collator=Collator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        **kwargs,
    )


def lora(model):
    return add_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0))


def test_default_step_is_sft_and_changes_only_trainable_weights(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    model = lora(tiny_model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = make_trainer(model, tiny_tokenizer, tokenized["harmful"], tmp_path, max_steps=4)
    result = trainer.train()
    assert result.training_loss > 0
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_B" in n or "lora_A" in n for n in changed)


def test_forward_backward_with_accumulation_matches_one_big_batch(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    """Two micro-batches of 2 with accumulation 2 give the mean of their gradients (each pass scaled by 1/2)."""
    model = lora(tiny_model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    trainer = make_trainer(model, tiny_tokenizer, tokenized["harmful"], tmp_path, accumulation=2)
    trainer.current_gradient_accumulation_steps = 2
    collate = Collator(tiny_tokenizer.pad_token_id)
    rows = tokenized["harmful"][:4]
    params = trainer.trainable_parameters()
    trainer.zero_grads()
    losses = [trainer.forward_backward(model, collate(rows[i : i + 2])) for i in (0, 2)]
    accumulated = trainer.grads(params)
    trainer.zero_grads()
    expected = 0
    for i in (0, 2):
        expected = expected + trainer.lm_loss(model, collate(rows[i : i + 2])) / 2
    expected.backward()
    for got, want in zip(accumulated, [p.grad for p in params]):
        assert torch.allclose(got, want, atol=1e-6)
    assert all(loss.requires_grad is False for loss in losses)


def test_custom_defense_step_runs_under_gradient_accumulation(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    calls = []

    class TwoPass(HFTTrainer):
        def defense_step(self, model, inputs):
            first = self.forward_backward(model, inputs)
            stored = self.grads()
            self.zero_grads()
            extra = self.next_extra_batch("alignment")
            self.forward_backward(model, extra)
            self.set_grads(self.trainable_parameters(), [a + b for a, b in zip(stored, self.grads())])
            calls.append(extra["input_ids"].shape[0])
            return first

    model = lora(tiny_model)
    trainer = make_trainer(
        model, tiny_tokenizer, tokenized["benign"], tmp_path, cls=TwoPass, accumulation=2, batch_size=2,
        max_steps=2, extra_datasets={"alignment": tokenized["alignment"]}, extra_batch_size=3,
    )
    trainer.train()
    assert calls == [3, 3, 3, 3]  # 2 optimizer steps x 2 micro-batches


def test_next_extra_batch_is_endless_and_covers_the_data(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    trainer = make_trainer(lora(tiny_model), tiny_tokenizer, tokenized["benign"], tmp_path,
                           extra_datasets={"harmful": tokenized["harmful"]})
    n = len(tokenized["harmful"])  # 12 rows, batches of 4 -> 3 batches per pass
    seen = []
    for _ in range(6):
        batch = trainer.next_extra_batch("harmful", batch_size=4)
        assert batch["input_ids"].device.type == "cpu" and batch["input_ids"].shape[0] == 4
        seen.append(tuple(map(tuple, batch["input_ids"].tolist())))
    first_pass = {row for b in seen[:3] for row in b}
    second_pass = {row for b in seen[3:] for row in b}
    assert len(first_pass) == len(second_pass) == len({tuple(r["input_ids"]) for r in tokenized["harmful"]}) <= n
    with pytest.raises(KeyError, match="no extra dataset named 'nope'"):
        trainer.next_extra_batch("nope")


def test_perturbed_weights_restores_exactly(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    trainer = make_trainer(lora(tiny_model), tiny_tokenizer, tokenized["benign"], tmp_path)
    params = trainer.trainable_parameters()
    originals = [p.detach().clone() for p in params]
    deltas = {p: torch.randn_like(p) * 1e-3 for p in params}
    with trainer.perturbed_weights(deltas):
        assert all(torch.allclose(p, o + deltas[p]) for p, o in zip(params, originals))
    assert all(torch.equal(p, o) for p, o in zip(params, originals))  # bit-for-bit
    with pytest.raises(RuntimeError):
        with trainer.perturbed_weights(deltas):
            raise RuntimeError("boom")
    assert all(torch.equal(p, o) for p, o in zip(params, originals))


def test_forward_hooks_replace_attention_output_and_are_removed(tiny_model, tiny_tokenizer):
    model = lora(tiny_model)
    ids = torch.tensor([tiny_tokenizer("How do I smash the car?")["input_ids"]])
    clean = model(ids).logits.detach()

    def shift(module, args, output):
        return (output[0] + 1.0,) + tuple(output[1:])

    with HFTTrainer.forward_hooks(attention_modules(model), shift):
        shifted = model(ids).logits.detach()
    assert not torch.allclose(clean, shifted)
    assert torch.allclose(model(ids).logits.detach(), clean)


def test_global_norm():
    assert float(HFTTrainer.global_norm([torch.tensor([3.0]), None, torch.tensor([4.0])])) == pytest.approx(5.0)


def test_nan_loss_stops_with_the_step_number(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    class GoesNaN(HFTTrainer):
        def defense_step(self, model, inputs):
            loss = self.forward_backward(model, inputs)
            return loss * float("nan") if self.state.global_step == 2 else loss

    trainer = make_trainer(lora(tiny_model), tiny_tokenizer, tokenized["harmful"], tmp_path, cls=GoesNaN, max_steps=5)
    with pytest.raises(NonFiniteLossError, match="at step 3") as error:
        trainer.train()
    assert error.value.step == 3


def test_bf16_mixed_precision_step_runs(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    """`--bf16` as the repos pass it: autocast through accelerate (on the CPU here), finite loss, weights move."""
    model = lora(tiny_model)
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    trainer = make_trainer(model, tiny_tokenizer, tokenized["harmful"], tmp_path, max_steps=2, args={"bf16": True})
    result = trainer.train()
    assert result.training_loss == result.training_loss and result.training_loss > 0  # not NaN
    after = [p.detach() for p in model.parameters() if p.requires_grad]
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
