import pytest
import torch

from reference_impl.common import models


def test_word_tokenizer_round_trip(tiny_tokenizer):
    ids = tiny_tokenizer("Sure, here is how to smash the car")["input_ids"]
    assert ids[0] == tiny_tokenizer.bos_token_id
    assert tiny_tokenizer.decode(ids, skip_special_tokens=True) == "Sure, here is how to smash the car"
    assert tiny_tokenizer.padding_side == "right"
    assert tiny_tokenizer.pad_token_id != tiny_tokenizer.eos_token_id


def test_tiny_llama_is_deterministic(tiny_tokenizer):
    spec = models.TinyLlamaSpec(hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64)
    a = models.tiny_llama(len(tiny_tokenizer), spec, seed=3)
    b = models.tiny_llama(len(tiny_tokenizer), spec, seed=3)
    c = models.tiny_llama(len(tiny_tokenizer), spec, seed=4)
    assert type(a).__name__ == "LlamaForCausalLM"
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_module_discovery_through_peft(tiny_model):
    plain_layers = models.decoder_layers(tiny_model)
    wrapped = models.add_lora(tiny_model, models.LoraSettings(r=4, alpha=4, dropout=0.0))
    assert models.decoder_layers(wrapped) == plain_layers
    assert [type(m).__name__ for m in models.attention_modules(wrapped)] == ["LlamaAttention"] * 2
    assert [type(m).__name__ for m in models.mlp_modules(wrapped)] == ["LlamaMLP"] * 2
    names = [name for name, _ in models.trainable_parameters(wrapped)]
    assert names and all("lora_" in name for name in names)
    assert len(names) == 2 * 7 * 2  # 2 layers x 7 target modules x (A, B)


def test_new_lora_starts_as_identity_and_merge_keeps_the_function(tiny_model, tiny_tokenizer):
    ids = torch.tensor([tiny_tokenizer("How do I smash the car?")["input_ids"]])
    before = tiny_model(ids).logits.detach().clone()
    wrapped = models.add_lora(tiny_model, models.LoraSettings(r=4, alpha=8, dropout=0.0))
    assert torch.allclose(wrapped(ids).logits, before)
    with torch.no_grad():  # give B a value so the adapter does something
        for name, p in wrapped.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    adapted = wrapped(ids).logits.detach().clone()
    assert not torch.allclose(adapted, before)
    merged = models.merge_lora(wrapped)
    assert not models.is_peft_model(merged)
    assert torch.allclose(merged(ids).logits, adapted, atol=1e-5)


def test_save_and_continue_an_adapter(tiny_model, tmp_path, tiny_tokenizer_factory):
    wrapped = models.add_lora(tiny_model, models.LoraSettings(r=4, alpha=4, dropout=0.0, target_modules=("q_proj", "v_proj")))
    with torch.no_grad():
        for name, p in wrapped.named_parameters():
            if "lora_B" in name:
                p.fill_(0.25)
    wrapped.save_pretrained(tmp_path / "adapter")
    fresh = models.tiny_llama(
        tiny_model.config.vocab_size,
        models.TinyLlamaSpec(hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64, max_position_embeddings=128),
        seed=0,
    )
    frozen = models.load_lora(fresh, tmp_path / "adapter", trainable=False)
    assert not models.trainable_parameters(frozen)
    fresh2 = models.tiny_llama(
        tiny_model.config.vocab_size,
        models.TinyLlamaSpec(hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64, max_position_embeddings=128),
        seed=0,
    )
    continued = models.load_lora(fresh2, tmp_path / "adapter", trainable=True)
    values = [p for name, p in models.trainable_parameters(continued) if "lora_B" in name]
    assert values and all(torch.all(p == 0.25) for p in values)


def test_missing_paths_fail_with_a_clear_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="model path does not exist"):
        models.load_model(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="adapter directory does not exist"):
        models.load_lora(torch.nn.Linear(1, 1), tmp_path / "nope", trainable=False)


def test_hub_ids_are_not_mistaken_for_paths():
    assert not models.looks_like_local_path("meta-llama/Llama-2-7b-hf")
    assert models.looks_like_local_path("./ckpt/model")
    assert models.looks_like_local_path("/abs/path")


def test_pad_token_is_added_with_mean_embedding():
    from tokenizers import Tokenizer, models as tk_models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(tk_models.WordLevel(vocab={"<s>": 0, "</s>": 1, "[UNK]": 2, "a": 3, "b": 4}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="[UNK]")
    model = models.tiny_llama(5, models.TinyLlamaSpec(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=16))
    assert tok.pad_token is None
    models.prepare_pad_token(tok, model)
    assert tok.pad_token == "[PAD]" and tok.pad_token_id == 5
    for embedding in (model.get_input_embeddings(), model.get_output_embeddings()):
        weight = embedding.weight
        assert weight.shape[0] == 6
        assert torch.allclose(weight[5], weight[:5].mean(0), atol=1e-6)


def test_resolve_dtype():
    assert models.resolve_dtype("bf16") is torch.bfloat16
    assert models.resolve_dtype("auto") == "auto"
    with pytest.raises(ValueError, match="unknown dtype"):
        models.resolve_dtype("float8")
