"""T-Vaccine's own math (arXiv 2410.09760): layers sampled in proportion to harmful-gradient norms; only the sampled
layers are perturbed; the other attention modules are frozen, the MLP LoRA trains from the lowest chosen layer up."""

import pytest
import torch

from model_helpers import nonzero_lora
from reference_impl.common.harness import training_arguments
from reference_impl.common.models import TinyLlamaSpec, attention_modules, decoder_layers, tiny_llama
from reference_impl.common.templates import Collator
from reference_impl.defenses import t_vaccine, vaccine


@pytest.fixture
def four_layers(tiny_tokenizer):
    spec = TinyLlamaSpec(hidden_size=32, num_layers=4, num_heads=4, intermediate_size=64, max_position_embeddings=128)
    return nonzero_lora(tiny_llama(len(tiny_tokenizer), spec, seed=0, tokenizer=tiny_tokenizer))


def plain_pass(model, batch):
    loss = model(**batch).loss
    loss.backward()
    return loss.detach()


def test_probabilities_are_the_normalised_norms_of_the_harmful_output_gradients(four_layers, tiny_tokenizer, tokenized):
    model = four_layers
    probe = Collator(tiny_tokenizer.pad_token_id)(tokenized["harmful"][:1])
    modules = attention_modules(model)
    p = t_vaccine.layer_probabilities(model, modules, probe, plain_pass)
    assert all(param.grad is None for param in model.parameters())  # the probe's parameter grads are dropped

    captured = []
    hooks = [m.register_forward_hook(lambda mod, a, out: captured.append(out[0])) for m in modules]
    loss = model(**probe).loss
    for h in hooks:
        h.remove()
    norms = torch.stack([g.norm() for g in torch.autograd.grad(loss, captured)])
    assert torch.allclose(p, norms / norms.sum(), rtol=1e-5)
    assert p.sum().item() == pytest.approx(1.0)


def test_layers_are_drawn_without_replacement_in_proportion_to_the_probabilities():
    probabilities = torch.tensor([0.5, 0.3, 0.15, 0.05])
    generator = torch.Generator().manual_seed(0)
    draws = 6000
    counts = torch.zeros(4)
    for _ in range(draws):
        (layer,) = t_vaccine.sample_layers(probabilities, 1, generator)
        counts[layer] += 1
    assert torch.allclose(counts / draws, probabilities, atol=0.02)
    for _ in range(50):
        chosen = t_vaccine.sample_layers(probabilities, 3, generator)
        assert len(set(chosen)) == 3 and chosen == sorted(chosen)


def make_trainer(model, tokenizer, tokenized, tmp_path, config, steps=1):
    args = training_arguments(tmp_path, per_device_train_batch_size=4, max_steps=steps, learning_rate=1e-2, use_cpu=True)
    return t_vaccine.Trainer(model=model, args=args, train_dataset=tokenized["alignment"],
                             data_collator=Collator(tokenizer.pad_token_id), processing_class=tokenizer,
                             extra_datasets={"harmful": tokenized["harmful"]}, defense_config=config)


def test_a_step_perturbs_only_the_sampled_layers_and_trains_what_the_official_step_trains(four_layers, tiny_tokenizer, tokenized, tmp_path, monkeypatch):
    model = four_layers
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = make_trainer(model, tiny_tokenizer, tokenized, tmp_path, t_vaccine.Config(sampled_layers=2, rho=1.0))
    perturbed = []
    original = vaccine.perturbation  # vaccine_gradients looks the perturbation up in its own module
    monkeypatch.setattr(vaccine, "perturbation", lambda grads, rho: perturbed.append(len(grads)) or original(grads, rho))
    trainer.train()
    chosen = trainer.chosen
    assert len(chosen) == 2 and perturbed == [2]  # eps over the 2 sampled layers only
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    # Official: the chosen attention LoRA, and the MLP LoRA of every layer from the lowest chosen one upward.
    expected_prefixes = [f"layers.{i}.self_attn." for i in chosen] + [f"layers.{i}.mlp." for i in range(min(chosen), 4)]
    assert changed, "the sampled layers must train"
    for name in changed:
        assert "lora_" in name and any(prefix in name for prefix in expected_prefixes), name
    for name in before:  # every LoRA weight expected to train moved; nothing else did
        if "lora_" in name and any(prefix in name for prefix in expected_prefixes):
            assert name in changed, name
    assert all(p.requires_grad for n, p in model.named_parameters() if "lora_" in n)  # unfrozen after training


def test_more_sampled_layers_than_the_model_has_is_refused(four_layers, tiny_tokenizer, tokenized, tmp_path):
    trainer = make_trainer(four_layers, tiny_tokenizer, tokenized, tmp_path, t_vaccine.Config(sampled_layers=5))
    with pytest.raises(ValueError, match="sampled_layers=5 but the model has 4"):
        trainer.train()
    with pytest.raises(ValueError, match="sampled_layers=8 but the model has 2 layers"):
        t_vaccine.check_config(t_vaccine.Config(), {"harmful_data": [1], "num_layers": 2})


@pytest.mark.parametrize("changes, message", [({"rho": 0.0}, "rho must be a number > 0"),
                                              ({"sampled_layers": 0}, "sampled_layers"),
                                              ({"resample_steps": 1.5}, "resample_steps")])
def test_bad_values_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        t_vaccine.check_config(t_vaccine.Config(**changes))


def test_defaults_are_the_official_scripts():
    import dataclasses

    c = t_vaccine.Config()
    assert (c.rho, c.sampled_layers, c.resample_steps, c.probability_steps) == (3.0, 8, 20, 200)
    for f in dataclasses.fields(t_vaccine.Config):
        assert f.metadata["help"] and f.metadata["source"]


def official_checkpointed_gradients(model, batch, chosen):
    """The official step-3 backward, written out: `unfreeze_activate_layers` (requires_grad only on the chosen
    attention modules' LoRA, every attention LoRA else off, the MLP LoRA untouched) and every non-chosen decoder layer
    run through the reentrant `torch.utils.checkpoint.checkpoint` (T-Vaccine models/modeling_llama_my_new.py L1002)."""
    import torch.utils.checkpoint

    for i, attention in enumerate(attention_modules(model)):
        for name, p in attention.named_parameters():
            if "lora" in name:
                p.requires_grad_(i in chosen)
    undo = []
    for i, layer in enumerate(decoder_layers(model)):
        if i in chosen:
            continue
        original = layer.forward

        def checkpointed(hidden_states, *args, _forward=original, **kwargs):
            return torch.utils.checkpoint.checkpoint(lambda h: _forward(h, *args, **kwargs), hidden_states,
                                                     use_reentrant=True)

        layer.forward = checkpointed
        undo.append((layer, original))
    model(**batch, use_cache=False).loss.backward()  # no cache: the backward recomputes checkpointed layers
    for layer, original in undo:
        layer.forward = original
    return {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters() if "lora_" in n}


@pytest.mark.parametrize("chosen", [[1, 2], [2], [0, 3]])
def test_the_trainable_weights_get_the_gradients_of_the_officials_checkpointed_backward(
        four_layers, tiny_tokenizer, tokenized, tmp_path, chosen):
    import copy

    official_model = copy.deepcopy(four_layers)
    batch = Collator(tiny_tokenizer.pad_token_id)(tokenized["alignment"][:4])
    official = official_checkpointed_gradients(official_model, batch, chosen)

    model = four_layers
    trainer = make_trainer(model, tiny_tokenizer, tokenized, tmp_path, t_vaccine.Config(sampled_layers=2))
    trainer._trainable = trainer.trainable_parameters(model)
    trainer.freeze_all_but(model, chosen)
    model(**batch, use_cache=False).loss.backward()
    ours = {n: None if p.grad is None else p.grad for n, p in model.named_parameters() if "lora_" in n}
    assert ours.keys() == official.keys()
    got_gradient = {n for n, g in official.items() if g is not None and g.abs().sum() > 0}
    assert {n for n, g in ours.items() if g is not None} == got_gradient
    assert any(".mlp." in n for n in got_gradient) and not any(f"layers.{min(chosen) - 1}.mlp." in n for n in got_gradient)
    for name in got_gradient:
        assert torch.allclose(ours[name], official[name], rtol=1e-4, atol=1e-7), name


def test_above_26_layers_the_mlp_of_the_layer_below_the_lowest_chosen_one_trains_too(tiny_tokenizer):
    spec = TinyLlamaSpec(hidden_size=16, num_layers=28, num_heads=2, intermediate_size=16, max_position_embeddings=64)
    model = nonzero_lora(tiny_llama(len(tiny_tokenizer), spec, seed=0, tokenizer=tiny_tokenizer))
    names = {id(p): n for n, p in model.named_parameters()}
    kept = t_vaccine.official_trainable(model, [p for p in model.parameters() if p.requires_grad], [5, 9])
    mlp_layers = {int(names[id(p)].split("layers.")[1].split(".")[0]) for p in kept if ".mlp." in names[id(p)]}
    assert mlp_layers == set(range(4, 28))
