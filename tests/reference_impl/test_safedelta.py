"""SafeDelta's own math: per block, adopt the least sensitive deltas while their OBS cost fits the budget, and
compensate by OBS; checked on small matrices against explicit inverses and a direct constrained solve (float64
numpy), and on a tiny Llama end to end (calibration Hessian, s = 0, s = infinity, inputs untouched)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

from pipeline_smoke import state_hash  # noqa: E402
from reference_impl.defenses import safedelta  # noqa: E402


def damped(h, percdamp):
    h = h.copy()
    idx = np.arange(len(h))
    h[idx[np.diag(h) == 0], idx[np.diag(h) == 0]] = 1.0
    h[idx, idx] += percdamp * np.mean(np.diag(h))
    return h


def sensitivities(h):
    """t_j = 1 / [(H_{>=j,>=j})^-1]_jj, from explicit inverses of the trailing sub-matrices."""
    return np.array([1.0 / np.linalg.inv(h[j:, j:])[0, 0] for j in range(len(h))])


def select(block, w_f, t, s, rows, blocksize, discard):
    t_full = np.broadcast_to(t, block.shape)
    cost = ((w_f - block) ** 2 * t_full).ravel()
    order = np.argsort(t_full.ravel(), kind="stable")
    order = order[: t_full.size - int(discard * t_full.size)]
    budget = t_full.mean() * s * rows / 4096 * blocksize / 4096
    mask = np.zeros(t_full.size, dtype=bool)
    mask[order[np.cumsum(cost[order]) <= budget]] = True
    return mask.reshape(block.shape)


def reference(w_a, w_f, h, s, *, blocksize, sub_block, percdamp=0.01, discard=0.15):
    """SafeDelta with explicit inverses: a column c fixed to q_c moves every later column j by
    -(w_c - q_c) [(H_{>=c})^-1]_{c,j} / [(H_{>=c})^-1]_cc, with w_c the value at the start of c's sub-block."""
    h = damped(h, percdamp)
    t = sensitivities(h)
    rows, cols = w_a.shape
    w = w_a.copy()
    masks = np.zeros_like(w_a, dtype=bool)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        masks[:, i1:i2] = select(w[:, i1:i2], w_f[:, i1:i2], t[i1:i2], s, rows, blocksize, discard)
        for c1 in range(i1, i2, sub_block):
            c2 = min(c1 + sub_block, i2)
            start = w[:, c1:c2].copy()
            q = np.where(masks[:, c1:c2], w_f[:, c1:c2], start)
            for k, c in enumerate(range(c1, c2)):
                inv = np.linalg.inv(h[c:, c:])
                w[:, c2:] -= np.outer(start[:, k] - q[:, k], inv[0, c2 - c :] / inv[0, 0])
            w[:, c1:c2] = q
    return w, masks, h


def problem(seed=0, rows=8, cols=12):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, cols)) @ rng.normal(size=(cols, cols)) * 0.5
    h = 2 * x.T @ x / 40
    w_a = rng.normal(size=(rows, cols))
    w_f = w_a + rng.normal(size=(rows, cols)) * 0.1
    return w_a, w_f, h


def budget_for_half(w_a, w_f, h, blocksize, percdamp=0.01):
    """An s under which about half of the first block's kept entries fit (both branches exercised)."""
    t = sensitivities(damped(h, percdamp))
    block = slice(0, min(blocksize, h.shape[0]))
    cost = ((w_f - w_a)[:, block] ** 2 * t[block]).sum()
    rows = w_a.shape[0]
    return 0.5 * cost / (t[block].mean() * rows / 4096 * blocksize / 4096)


def run(w_a, w_f, h, config):
    out, adopted = safedelta.safe_delta_weight(torch.tensor(w_a), torch.tensor(w_f), torch.tensor(h), config)
    return out.numpy(), adopted


@pytest.mark.parametrize("blocksize,sub_block", [(2048, 4), (2048, 1), (4, 4), (5, 2), (4, 1)])
def test_selection_and_compensation_match_explicit_inverses(blocksize, sub_block):
    w_a, w_f, h = problem()
    s = budget_for_half(w_a, w_f, h, blocksize)
    expected, masks, _ = reference(w_a, w_f, h, s, blocksize=blocksize, sub_block=sub_block)
    assert 0 < masks.sum() < masks.size * 0.85
    got, adopted = run(w_a, w_f, h, safedelta.Config(budget=s, blocksize=blocksize, sub_block=sub_block))
    assert adopted == masks.sum()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(got[masks], w_f[masks])  # adopted entries take W_f's value exactly


@pytest.mark.parametrize("blocksize", [2048, 4])
def test_column_by_column_compensation_is_the_constrained_least_squares_solution(blocksize):
    """With sub_block = 1, every column that keeps its own value equals the minimiser of (w - w_a)^T H (w - w_a)
    over the not-yet-fixed columns, given the columns before it: a direct linear solve."""
    w_a, w_f, h = problem(seed=1)
    s = budget_for_half(w_a, w_f, h, blocksize)
    got, _ = run(w_a, w_f, h, safedelta.Config(budget=s, blocksize=blocksize, sub_block=1))
    _, masks, hd = reference(w_a, w_f, h, s, blocksize=blocksize, sub_block=1)
    for k in range(w_a.shape[1]):
        rest = w_a[:, k:] - np.linalg.solve(hd[k:, k:], hd[k:, :k] @ (got[:, :k] - w_a[:, :k]).T).T
        expected = np.where(masks[:, k], w_f[:, k], rest[:, 0])
        np.testing.assert_allclose(got[:, k], expected, rtol=1e-9, atol=1e-9)


def test_budget_zero_keeps_the_aligned_weights_and_a_huge_budget_the_fine_tuned_ones():
    w_a, w_f, h = problem()
    np.testing.assert_array_equal(run(w_a, w_f, h, safedelta.Config(budget=0.0))[0], w_a)
    np.testing.assert_array_equal(run(w_a, w_f, h, safedelta.Config(budget=1e12, discard=0.0))[0], w_f)
    got, adopted = run(w_a, w_f, h, safedelta.Config(budget=1e12))  # the 15% most sensitive are never adopted
    assert adopted == w_a.size - int(0.15 * w_a.size)


# -- the whole method on a tiny Llama ----------------------------------------------------------------------


@pytest.fixture
def pair(tiny_model):
    aligned = tiny_model
    finetuned = peft.get_peft_model(copy.deepcopy(aligned), peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    with torch.no_grad():
        for name, param in finetuned.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=torch.Generator().manual_seed(len(name))) * 0.3)
    return aligned, finetuned


def test_apply_writes_a_new_model_between_aligned_and_fine_tuned(pair, tiny_tokenizer, tiny_rows):
    aligned, finetuned = pair
    hashes = state_hash(aligned), state_hash(finetuned)
    merged = copy.deepcopy(finetuned).merge_and_unload().state_dict()
    context = {"aligned_model": aligned}
    data = {"alignment": tiny_rows["alignment"]}

    nothing = safedelta.apply(finetuned, tiny_tokenizer, config=safedelta.Config(budget=0.0), data=data, context=context)
    for name, tensor in nothing.state_dict().items():
        torch.testing.assert_close(tensor, aligned.state_dict()[name], rtol=0, atol=0)
    everything = safedelta.apply(finetuned, tiny_tokenizer, config=safedelta.Config(budget=1e12, discard=0.0), data=data,
                                 context=context)
    for name, tensor in everything.state_dict().items():
        expected = merged[name] if ".layers." in name and name.endswith("proj.weight") else aligned.state_dict()[name]
        torch.testing.assert_close(tensor, expected, rtol=0, atol=0)
    some = safedelta.apply(finetuned, tiny_tokenizer, config=safedelta.Config(budget=50.0), data=data, context=context)
    report = some.safedelta_report["model.layers.0.self_attn.q_proj"]
    assert 0 < report["adopted"] < report["entries"]
    assert hashes == (state_hash(aligned), state_hash(finetuned))  # the inputs were not touched


def test_calibration_hessian_is_two_over_n_sum_of_x_xt(tiny_model, tiny_tokenizer, tiny_rows):
    from reference_impl.defenses.antidote import calibration_batches

    batches = calibration_batches(tiny_rows["alignment"][:6], tiny_tokenizer, batch_size=4, max_length=96)
    targets = safedelta.decoder_linears(tiny_model)
    assert len(targets) == 2 * 7  # q, k, v, o, gate, up, down in each of the 2 blocks
    hessians = safedelta.calibration_hessians(tiny_model, targets, batches)
    layer = tiny_model.model.layers[0]
    expected = 0
    with torch.no_grad():
        for batch in batches:
            x = layer.input_layernorm(tiny_model.model.embed_tokens(batch["input_ids"]))  # q_proj's input in block 0
            x = x[batch["attention_mask"].bool()].double()
            expected = expected + x.T @ x
    torch.testing.assert_close(hessians["model.layers.0.self_attn.q_proj"].double(), 2 * expected / 6, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("config,context,message", [
    (safedelta.Config(budget=-0.1), {}, "safedelta.budget (s) must be a finite number >= 0"),
    (safedelta.Config(budget=float("inf")), {}, "safedelta.budget (s) must be a finite number >= 0"),
    (safedelta.Config(nsamples=0), {}, "safedelta.nsamples must be a positive integer"),
    (safedelta.Config(discard=1.0), {}, "safedelta.discard must be in [0, 1)"),
    (safedelta.Config(), {"alignment_data": [1]}, "safedelta needs the aligned model's full weights"),
    (safedelta.Config(), {"aligned_model": 1}, "safedelta needs safety calibration data"),
])
def test_config_errors_are_one_line_and_name_the_input(config, context, message):
    with pytest.raises(ValueError) as error:
        safedelta.check_config(config, context)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_lora_adapter_alone_is_refused(pair, tiny_tokenizer, tiny_rows):
    aligned, finetuned = pair
    adapter_only = {k: v for k, v in finetuned.state_dict().items() if "lora_" in k}
    with pytest.raises(ValueError, match="needs the fine-tuned model's full weights; got dict"):
        safedelta.apply(adapter_only, tiny_tokenizer, config=safedelta.Config(), data={"alignment": tiny_rows["alignment"]},
                        context={"aligned_model": aligned})
