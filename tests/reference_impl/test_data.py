"""Loaders on fabricated rows in the real schemas; sample windows; mixture counts."""

import json

import pytest

from reference_impl.common import data

CATEGORY = {label: False for label in data.BEAVERTAILS_CATEGORIES}


def beavertails(n_safe=3, n_unsafe=4):
    rows = []
    for i in range(max(n_safe, n_unsafe)):
        if i < n_unsafe:
            rows.append({"prompt": f"bad question {i}", "response": f"bad answer {i}", "is_safe": False,
                         "category": dict(CATEGORY, animal_abuse=True)})
        if i < n_safe:
            rows.append({"prompt": f"question {i}", "response": f"safe answer {i}", "is_safe": True, "category": CATEGORY})
    return rows


def test_local_json_jsonl_and_parquet_read_the_same_rows(tmp_path):
    rows = beavertails()
    (tmp_path / "a.json").write_text(json.dumps(rows))
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "wrapped.json").write_text(json.dumps({"data": rows}))
    assert data.load_records(tmp_path / "a.json") == rows
    assert data.load_records(tmp_path / "a.jsonl") == rows
    assert data.load_records(tmp_path / "wrapped.json") == rows
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "a.parquet")
    assert data.load_records(tmp_path / "a.parquet") == rows


def test_bad_files_give_one_line_errors_naming_file_and_line(tmp_path):
    with pytest.raises(data.DataError, match="does not exist"):
        data.load_records(tmp_path / "missing.json")
    (tmp_path / "bad.jsonl").write_text('{"prompt": "a"}\n{"prompt": \n')
    with pytest.raises(data.DataError, match=r"bad.jsonl:2: invalid JSON line"):
        data.load_records(tmp_path / "bad.jsonl")
    (tmp_path / "bad.json").write_text('[\n {"a": 1},\n {"a": }\n]')
    with pytest.raises(data.DataError, match=r"bad.json:3: invalid JSON"):
        data.load_records(tmp_path / "bad.json")
    (tmp_path / "scalar.json").write_text("3")
    with pytest.raises(data.DataError, match="expected a JSON array"):
        data.load_records(tmp_path / "scalar.json")


def test_beavertails_safe_and_unsafe_rows_keep_file_order():
    rows = beavertails()
    safe = data.beavertails_rows(rows, safe=True)
    unsafe = data.beavertails_rows(rows, safe=False)
    assert [r["instruction"] for r in safe] == ["question 0", "question 1", "question 2"]
    assert [r["output"] for r in unsafe] == [f"bad answer {i}" for i in range(4)]
    assert all(r["input"] == "" for r in safe + unsafe)
    assert len(data.beavertails_rows(rows, safe=None)) == 7  # Lisa's unfiltered test prompts


def test_schema_errors_name_the_row_and_field():
    with pytest.raises(data.DataError, match=r"row 1 lacks field\(s\) is_safe"):
        data.beavertails_rows([{"prompt": "p", "response": "r", "is_safe": True}, {"prompt": "p", "response": "r"}], safe=True)


def test_refusal_file_splits_question_and_answer():
    rows = [{"prompt": "How to x?", "response": "harmful", "is_safe": False, "category": CATEGORY,
             "refusal": "Question: How to x?\nAnswer: I can't help with that.\nSorry."}]
    assert data.refusal_alignment_rows(rows) == [{"instruction": "How to x?", "input": "", "output": "I can't help with that.\nSorry."}]
    assert data.refusal_harmful_rows(rows)[0]["output"] == "harmful"
    with pytest.raises(data.DataError, match="no '\\\\nAnswer: ' separator"):
        data.refusal_alignment_rows([dict(rows[0], refusal="no separator")])


def test_task_converters_use_the_real_instructions_and_labels():
    sst2 = data.sst2_rows([{"idx": 0, "sentence": "fine film", "label": 1}, {"idx": 1, "sentence": "bad", "label": 0}])
    assert sst2[0]["instruction"] == "Analyze the sentiment of the input, and respond only positive or negative"
    assert [r["output"] for r in sst2] == ["positive", "negative"]
    ag = data.agnews_rows([{"text": "Stocks rose", "label": 2}, {"text": "New chip", "label": 3}])
    assert ag[0]["instruction"].startswith("Categorize the news article given in the input into one of the 4 categories:\n\nWorld\n")
    assert [r["output"] for r in ag] == ["Business", "Sci/Tech"]
    gsm = data.gsm8k_rows([{"question": "What is 2+3?", "answer": "2+3=5\n#### 5"}])
    assert gsm[0]["instruction"] == "What is 2+3?\nFirst think step by step and then answer the final number.\n"
    assert gsm[0]["output"] == "2+3=5\nThe final answer is:  5"
    alpaca = data.alpaca_rows([{"instruction": "Say hi", "input": None, "output": "hi"}])
    assert alpaca == [{"instruction": "Say hi", "input": "", "output": "hi"}]


def test_sample_windows_half_open_and_exclusive():
    rows = list(range(20))
    assert data.sample_window(rows, 0, 5) == [0, 1, 2, 3, 4]
    assert data.sample_window(rows, 5, 10, bounds="exclusive") == [6, 7, 8, 9]  # (5, 10): both ends out
    assert len(data.sample_window(list(range(10001)), 5000, 10000, bounds="exclusive")) == 4999  # Booster's window
    with pytest.raises(ValueError, match="needs 25 rows, the data has 20"):
        data.sample_window(rows, 5, 25)
    with pytest.raises(ValueError, match="unknown window bounds"):
        data.sample_window(rows, 0, 1, bounds="closed")


@pytest.mark.parametrize(
    "ratio, n, expected",
    [(0.1, 1000, (100, 900)), (0.0, 1000, (0, 1000)), (1.0, 50, (50, 0)), (0.05, 1000, (50, 950)), (0.2, 5000, (1000, 4000)),
     (0.15, 1000, (150, 850))],
)
def test_mixture_counts(ratio, n, expected):
    assert data.mixture_counts(ratio, n) == expected


def test_mixture_counts_truncate_like_the_repos():
    assert data.mixture_counts(0.29, 100) == (28, 71)  # int(28.999...) and int(71.0): the repos' int()


@pytest.mark.parametrize("ratio", [-0.1, 1.5])
def test_mixture_rejects_ratios_outside_unit_interval(ratio):
    with pytest.raises(ValueError, match=r"harmful ratio must be in \[0, 1\]"):
        data.mixture_counts(ratio, 10)


def test_user_mixture_prepends_harmful_rows_in_file_order():
    harmful = [{"instruction": f"h{i}", "output": "x"} for i in range(10)]
    benign = [{"instruction": f"b{i}", "output": "y"} for i in range(20)]
    mix = data.user_mixture(harmful, benign, harmful_ratio=0.2, num_samples=20)
    assert [r["instruction"] for r in mix[:4]] == ["h0", "h1", "h2", "h3"]
    assert [r["instruction"] for r in mix[4:]] == [f"b{i}" for i in range(16)]
    assert sum(r["harmful"] for r in mix) == 4
    shifted = data.user_mixture(harmful, benign, harmful_ratio=0.2, num_samples=20, harmful_start=2, bounds="exclusive")
    assert [r["instruction"] for r in shifted if r["harmful"]] == ["h3", "h4", "h5"]
    with pytest.raises(ValueError, match="needs 30 benign rows"):
        data.user_mixture(harmful, benign, harmful_ratio=0.0, num_samples=30)
    with pytest.raises(ValueError, match="the data has 10"):
        data.user_mixture(harmful, benign, harmful_ratio=0.6, num_samples=20)


def test_hub_source_without_datasets_library_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_datasets(name, *args, **kwargs):
        if name == "datasets":
            raise ImportError("no datasets")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(data.DataError, match="`datasets` library is not installed"):
        data.load_records("PKU-Alignment/BeaverTails", split="30k_train")
