"""The overhead bench's data-level part (issue 13): safety mixing, BackdoorAlign and PTST are timed on the rows the
pipeline would fine-tune them on, so those rows must be the pipeline's (the method's finetune_data and templates)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from bench import bench_overhead as bench  # noqa: E402


@pytest.fixture(scope="module")
def jobs():
    return {method: bench.world_job(method) for method in ("sft", *bench.DATA_METHODS)}


def test_data_level_rows_are_the_users_rows_plus_the_methods_own(jobs):
    from reference_impl.common.config import load_config

    config = load_config(bench.WORLD_CONFIG)
    sft, mixing, backdoor, ptst = (jobs[m] for m in ("sft", *bench.DATA_METHODS))
    n = config["finetune"]["num_samples"]
    assert len(sft.rows) == n and sft.batch_size == config["finetune"]["batch_size"]
    # Safety mixing: the user's rows unchanged, then the world's k safety rows (its method_configs setting).
    k = config["method_configs"]["safety_mixing"]["k"]
    assert mixing.settings == {"k": k} and len(mixing.rows) == n + k and mixing.rows[:n] == sft.rows
    # BackdoorAlign: the user's rows without the trigger, then its safety rows carrying it in their prompt.
    num_safety = backdoor.settings["num_safety"]
    assert len(backdoor.rows) == n + num_safety and backdoor.rows[:n] == sft.rows
    trigger_length = backdoor.settings["trigger_tokens"]  # each trigger word is one [UNK] in the world's vocabulary
    plain_safety = mixing.rows[n : n + num_safety]  # the same first pool rows, without the trigger
    for triggered, plain in zip(backdoor.rows[n:], plain_safety):
        assert len(triggered["input_ids"]) == min(len(plain["input_ids"]) + trigger_length, 96)
    # PTST trains on SFT's rows; only its serving prompts are longer.
    assert ptst.rows == sft.rows and ptst.serving_tokens > sft.serving_tokens == mixing.serving_tokens


def test_an_epoch_covers_every_row_once_in_a_seeded_order(jobs):
    job = jobs["backdoor_align"]
    batches = bench.epoch_batches(job, seed=0, device="cpu")
    assert [len(b["input_ids"]) for b in batches] == [16] * 13 + [len(job.rows) - 16 * 13]
    seen = sorted(tuple(ids[mask.bool()].tolist()) for b in batches for ids, mask in zip(b["input_ids"], b["attention_mask"]))
    assert seen == sorted(tuple(r["input_ids"]) for r in job.rows)
    again, other = (bench.epoch_batches(job, seed=s, device="cpu") for s in (0, 1))
    assert all((a["input_ids"] == b["input_ids"]).all() for a, b in zip(batches, again))
    assert not all(a["input_ids"].shape == b["input_ids"].shape and (a["input_ids"] == b["input_ids"]).all()
                   for a, b in zip(batches, other))


def test_the_bench_reads_each_target_from_the_methods_own_spec():
    """A method's cost is declared once, in its MethodSpec; every measured training-time or data-level defense has
    one (TAR's cost grows with its K: measured, no target)."""
    import bench.bench_overhead as bench
    from reference_impl.pipeline.plan import load_method

    for name in bench.TRAINING_METHODS + bench.DATA_METHODS:
        spec = load_method(name)[2]
        assert bench.TARGETS.get(name) == spec.overhead, name
        assert (spec.overhead is None) == (name in ("sft", "tar")), name
