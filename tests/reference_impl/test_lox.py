"""LoX's own math (the paper's extrapolation): W_a + c * rank-k SVD(W_a - W_base), only on the chosen matrices."""

import hashlib

import numpy as np
import pytest
import torch

from reference_impl.common.models import LoraSettings, add_lora
from reference_impl.defenses import lox


def digest(model) -> str:
    sha = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        sha.update(name.encode() + p.detach().numpy().tobytes())
    return sha.hexdigest()


def numpy_rank_k(delta: np.ndarray, k: int) -> np.ndarray:
    """An independent rank-k approximation: numpy's SVD in float64."""
    u, s, vh = np.linalg.svd(delta.astype(np.float64), full_matrices=False)
    return (u[:, :k] * s[:k]) @ vh[:k, :]


@pytest.fixture
def pair(tiny_model):
    """(aligned, base): the aligned model is the base plus a random update on every matrix and norm."""
    import copy

    base = tiny_model
    aligned = copy.deepcopy(base)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in aligned.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
    return aligned, base


def test_extrapolate_is_aligned_plus_c_times_the_rank_k_update_on_the_chosen_matrices_only(pair):
    aligned, base = pair
    before = (digest(aligned), digest(base))
    new = lox.extrapolate(aligned, base, lox.Config(k=3, c=0.7, targets=("q_proj", "down_proj")))
    assert (digest(aligned), digest(base)) == before  # a new model; the inputs are untouched
    a, b, n = dict(aligned.named_parameters()), dict(base.named_parameters()), dict(new.named_parameters())
    chosen = [name for name in n if ("q_proj" in name or "down_proj" in name) and n[name].ndim == 2]
    assert len(chosen) == 4  # 2 layers x (q_proj, down_proj)
    for name, p in n.items():
        if name in chosen:
            wa, wb = a[name].detach().numpy(), b[name].detach().numpy()
            want = wa + 0.7 * numpy_rank_k(wa - wb, 3)
            np.testing.assert_allclose(p.detach().numpy(), want, atol=2e-6, err_msg=name)
        else:
            assert torch.equal(p, a[name]), name  # other matrices and every 1-D parameter keep the aligned value


def test_k_zero_extrapolates_the_whole_update(pair):
    aligned, base = pair
    new = lox.extrapolate(aligned, base, lox.Config(k=0, c=1.0))
    for (name, p), wa, wb in zip(new.named_parameters(), aligned.parameters(), base.parameters()):
        want = wa + (wa - wb) if p.ndim > 1 else wa
        assert torch.allclose(p, want, atol=1e-6), name


def test_extrapolate_lora_rewrites_the_adapter_into_the_extrapolated_update(tiny_model):
    model = add_lora(tiny_model, LoraSettings(r=4, alpha=8, dropout=0.0))
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=generator))
    pairs = lox.lora_factors(model)
    old = {name: (s * (b @ a)).detach().numpy().copy() for name, (a, b, s) in pairs.items()}
    changed = lox.extrapolate_lora(model, lox.Config(k=2, c=0.5, targets=("v_proj",)))
    assert changed and all("v_proj" in name for name in changed)
    for name, (a, b, s) in lox.lora_factors(model).items():
        new = (s * (b @ a)).detach().numpy()
        want = old[name] + 0.5 * numpy_rank_k(old[name], 2) if name in changed else old[name]
        np.testing.assert_allclose(new, want, atol=1e-5, err_msg=name)


def test_k_larger_than_the_rank_is_refused_with_the_matrix_name(tiny_model, pair):
    model = add_lora(tiny_model, LoraSettings(r=4, alpha=8, dropout=0.0))
    with pytest.raises(ValueError, match=r"k=5 is larger than the rank .*LoRA r=4"):
        lox.extrapolate_lora(model, lox.Config(k=5))
    aligned, base = pair
    with pytest.raises(ValueError, match="k=999 is larger than the rank of"):
        lox.extrapolate(aligned, base, lox.Config(k=999))


def test_a_run_without_a_base_model_is_refused():
    with pytest.raises(ValueError, match="needs the base model"):
        lox.check_config(lox.Config(), {"alignment_data": True, "base_model": None})
    with pytest.raises(ValueError, match="needs the base model"):
        lox.extrapolate(torch.nn.Linear(2, 2), None)


@pytest.mark.parametrize("changes, message", [({"c": 0.0}, "c must be a number > 0"), ({"c": -1}, "c must be"),
                                              ({"k": -1}, "k must be an integer >= 0"), ({"k": 1.5}, "k must be")])
def test_bad_values_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        lox.check_config(lox.Config(**changes))


def test_defaults_are_the_official_scripts():
    import dataclasses

    assert (lox.Config().k, lox.Config().c) == (0, 1.0)
    for f in dataclasses.fields(lox.Config):
        assert f.metadata["help"] and f.metadata["source"]
