"""KL's own math (the Vaccine repository's KLTrainer): KL(teacher || student) over the vocabulary, summed over the non-padding positions
and divided by the batch size (the official batchmean), teacher frozen."""

import pytest
import torch
import torch.nn.functional as F

from reference_impl.common.harness import training_arguments
from reference_impl.common.models import LoraSettings, add_lora
from reference_impl.common.templates import Collator
from reference_impl.defenses import kl


def test_kl_term_is_the_official_batchmean_kl_of_teacher_to_student_over_the_vocabulary():
    """The official call (Vaccine trainer.py KLTrainer L391), softmax over the vocabulary instead of dim=1."""
    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(2, 5, 7, generator=generator), torch.randn(2, 5, 7, generator=generator)
    official = torch.nn.KLDivLoss(reduction="batchmean")(F.log_softmax(student, dim=-1), F.softmax(teacher, dim=-1))
    assert kl.kl_teacher_student(student, teacher).item() == pytest.approx(official.item(), rel=1e-5)
    assert kl.kl_teacher_student(student, student).item() == pytest.approx(0.0, abs=1e-6)

    # Padding positions are left out; the sum over the rest is still divided by the batch size (2).
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    terms = [(F.softmax(teacher[b, t], -1) * (F.log_softmax(teacher[b, t], -1) - F.log_softmax(student[b, t], -1))).sum()
             for b in range(2) for t in range(5) if mask[b, t]]
    assert len(terms) == 8
    assert kl.kl_teacher_student(student, teacher, mask).item() == pytest.approx(sum(terms).item() / 2, rel=1e-5)


def test_trainer_adds_lambda_kl_to_the_task_loss_and_keeps_the_teacher_frozen(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    import copy

    model = add_lora(tiny_model, LoraSettings(r=4, alpha=8, dropout=0.0))
    teacher = copy.deepcopy(model)
    args = training_arguments(tmp_path, per_device_train_batch_size=4, max_steps=2, learning_rate=5e-2, use_cpu=True)
    trainer = kl.Trainer(model=model, args=args, train_dataset=tokenized["harmful"],
                         data_collator=Collator(tiny_tokenizer.pad_token_id), processing_class=tiny_tokenizer,
                         defense_config=kl.Config(lam=0.7))
    trainer.train()
    batch = Collator(tiny_tokenizer.pad_token_id)(tokenized["harmful"][:3])
    loss = trainer._loss(model, batch).item()
    with torch.no_grad():
        out, ref = model(**batch), teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    mask = batch["attention_mask"].bool()
    want_kl = torch.nn.KLDivLoss(reduction="sum")(F.log_softmax(out.logits[mask], -1), F.softmax(ref.logits[mask], -1)).item() / 3
    assert want_kl > 0 and trainer.last_losses["kl"] == pytest.approx(want_kl, rel=1e-4)
    assert loss == pytest.approx(out.loss.item() + 0.7 * want_kl, rel=1e-4)


def test_negative_lambda_is_refused():
    with pytest.raises(ValueError, match="lam must be a number >= 0"):
        kl.check_config(kl.Config(lam=-1))
