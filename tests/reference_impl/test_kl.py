"""KL's own math (DEFENSES.md 4.3): KL(student || teacher) over the vocabulary on the user's batch, teacher frozen."""

import pytest
import torch
import torch.nn.functional as F

from reference_impl.common.harness import training_arguments
from reference_impl.common.models import LoraSettings, add_lora
from reference_impl.common.templates import Collator
from reference_impl.defenses import kl


def test_kl_term_equals_the_definition_over_the_vocabulary_at_answer_positions():
    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(2, 5, 7, generator=generator), torch.randn(2, 5, 7, generator=generator)
    labels = torch.tensor([[-100, -100, 3, 4, 1], [-100, 2, 2, -100, -100]])
    got = kl.kl_student_teacher(student, teacher, labels).item()
    terms = []
    for b in range(2):
        for t in range(4):  # logits at t predict label t + 1
            if labels[b, t + 1] != -100:
                p, q = F.softmax(student[b, t], -1), F.softmax(teacher[b, t], -1)
                terms.append((p * (p.log() - q.log())).sum().item())
    assert len(terms) == 5 and got == pytest.approx(sum(terms) / len(terms), rel=1e-5)
    assert kl.kl_student_teacher(student, student, labels).item() == pytest.approx(0.0, abs=1e-6)


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
    want_kl = kl.kl_student_teacher(out.logits, ref.logits, batch["labels"]).item()
    assert want_kl > 0 and trainer.last_losses["kl"] == pytest.approx(want_kl, rel=1e-4)
    assert loss == pytest.approx(out.loss.item() + 0.7 * want_kl, rel=1e-4)


def test_negative_lambda_is_refused():
    with pytest.raises(ValueError, match="lam must be a number >= 0"):
        kl.check_config(kl.Config(lam=-1))
