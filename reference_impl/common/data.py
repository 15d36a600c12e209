"""Datasets in their real schemas, converted to instruction rows; sample windows; the user's harmful mixture.

Every dataset ends up as rows `{"instruction": str, "input": str, "output": str}` (plus extra keys the
evaluation needs, e.g. `label`), which `templates.tokenize_rows` turns into training examples. site/reference/protocol.md, 'Data':

* BeaverTails (`PKU-Alignment/BeaverTails`, splits `30k_train` / `30k_test`): prompt, response, is_safe, category
  (dict of 14 booleans). Safe rows are the Vaccine/Lisa/Antidote alignment set; unsafe rows are harmful data.
* BeaverTails with refusals (`beavertails_with_refusals_train.json`, RepNoise's file, mirrored on the hub as
  `anonymous4486/repnoise_beavertail`): the same fields plus `refusal` = "Question: ...\\nAnswer: ...", split on
  "\\nAnswer: " into instruction and output (the Booster/Virus/Panacea/T-Vaccine alignment set).
* SST2 (`sst2`: sentence, label 0/1), AG News (`ag_news`: text, label 0-3), GSM8K (`gsm8k`/`main`: question,
  answer), Alpaca (`alpaca.json`: instruction, input, output).

Rows come from the Hugging Face `datasets` library when it is installed and the source is a hub id, and from local
JSON / JSONL / Parquet files otherwise (`load_records`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

SST2_INSTRUCTION = "Analyze the sentiment of the input, and respond only positive or negative"
SST2_LABELS = ("negative", "positive")  # label 0, label 1
AGNEWS_INSTRUCTION = (
    "Categorize the news article given in the input into one of the 4 categories:\n\nWorld\nSports\nBusiness\nSci/Tech\n"
)
AGNEWS_LABELS = ("World", "Sports", "Business", "Sci/Tech")  # label 0..3
GSM8K_SUFFIX = "\nFirst think step by step and then answer the final number.\n"
GSM8K_ANSWER_MARKER = "The final answer is: "

#: beaver-dam-7b's 14 labels, in its order (site/reference/protocol.md, 'Harmful score'); also the keys of BeaverTails' `category` dict.
BEAVERTAILS_CATEGORIES = (
    "animal_abuse",
    "child_abuse",
    "controversial_topics,politics",
    "discrimination,stereotype,injustice",
    "drug_abuse,weapons,banned_substance",
    "financial_crime,property_crime,theft",
    "hate_speech,offensive_language",
    "misinformation_regarding_ethics,laws_and_safety",
    "non_violent_unethical_behavior",
    "privacy_violation",
    "self_harm",
    "sexually_explicit,adult_content",
    "terrorism,organized_crime",
    "violence,aiding_and_abetting,incitement",
)

LOCAL_SUFFIXES = (".json", ".jsonl", ".parquet")


class DataError(ValueError):
    """A dataset that cannot be read or does not have the expected schema (one-line message, names the file)."""


# ---------------------------------------------------------------------------------------------------------
# Reading


def is_local_source(source: str | Path) -> bool:
    text = str(source)
    return text.endswith(LOCAL_SUFFIXES) or Path(text).expanduser().exists()


def load_records(source: str | Path, *, split: str | None = None, subset: str | None = None) -> list[dict]:
    """Rows of a dataset as plain dicts: a local .json/.jsonl/.parquet file, or a hub id through `datasets`."""
    if is_local_source(source):
        return read_local(Path(source).expanduser())
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"{source}: not a local file, and the `datasets` library is not installed to fetch it from the hub "
            f"(pip install 'hftkb[data]', or pass a local .json/.jsonl/.parquet file)"
        ) from None
    loaded = datasets.load_dataset(str(source), subset, split=split)
    return [dict(row) for row in loaded]


def read_local(path: Path) -> list[dict]:
    """A JSON array (or {"data": [...]}), JSON lines, or Parquet file -> list of dicts."""
    if not path.exists():
        raise DataError(f"{path}: dataset file does not exist")
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError(f"{path}: reading Parquet needs pyarrow (pip install 'hftkb[data]')") from None
        return pq.read_table(path).to_pylist()
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl" or (text.lstrip()[:1] == "{" and "\n{" in text.strip()):
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise DataError(f"{path}:{number}: invalid JSON line: {error.msg}") from None
        return rows
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}: invalid JSON: {error.msg}") from None
    if isinstance(data, Mapping) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list) or not all(isinstance(row, Mapping) for row in data):
        raise DataError(f"{path}: expected a JSON array of objects")
    return [dict(row) for row in data]


def require_fields(rows: Sequence[Mapping], fields: Iterable[str], source: str) -> None:
    fields = tuple(fields)
    for index, row in enumerate(rows):
        missing = [f for f in fields if f not in row]
        if missing:
            raise DataError(f"{source}: row {index} lacks field(s) {', '.join(missing)} (expected: {', '.join(fields)})")


# ---------------------------------------------------------------------------------------------------------
# Converters: real schema -> instruction rows


def beavertails_rows(rows: Sequence[Mapping], *, safe: bool | None, source: str = "BeaverTails") -> list[dict]:
    """BeaverTails rows (prompt/response/is_safe/category) -> (instruction=prompt, output=response).

    `safe=True` keeps is_safe rows (alignment set), `safe=False` the unsafe ones (harmful data / HS prompts),
    `None` keeps all (Lisa's unfiltered test prompts).
    """
    require_fields(rows, ("prompt", "response", "is_safe"), source)
    out = []
    for row in rows:
        if safe is None or bool(row["is_safe"]) == safe:
            out.append({"instruction": row["prompt"], "input": "", "output": row["response"], "category": row.get("category")})
    return out


def refusal_alignment_rows(rows: Sequence[Mapping], *, source: str = "beavertails_with_refusals") -> list[dict]:
    """The refusal file's `refusal` ("Question: q\\nAnswer: a") -> (instruction=q, output=a)."""
    require_fields(rows, ("refusal",), source)
    out = []
    for index, row in enumerate(rows):
        question, marker, answer = row["refusal"].partition("\nAnswer: ")
        if not marker:
            raise DataError(f"{source}: row {index}: `refusal` has no '\\nAnswer: ' separator")
        question = question.removeprefix("Question: ")
        out.append({"instruction": question, "input": "", "output": answer})
    return out


def refusal_harmful_rows(rows: Sequence[Mapping], *, source: str = "beavertails_with_refusals") -> list[dict]:
    """The refusal file's (prompt, harmful response) pairs: the defender-side harmful set of Booster/RepNoise."""
    require_fields(rows, ("prompt", "response"), source)
    return [{"instruction": row["prompt"], "input": "", "output": row["response"]} for row in rows]


def sst2_rows(rows: Sequence[Mapping], *, source: str = "sst2") -> list[dict]:
    require_fields(rows, ("sentence", "label"), source)
    return [
        {"instruction": SST2_INSTRUCTION, "input": row["sentence"], "output": SST2_LABELS[int(row["label"])], "label": SST2_LABELS[int(row["label"])]}
        for row in rows
    ]


def agnews_rows(rows: Sequence[Mapping], *, source: str = "ag_news") -> list[dict]:
    require_fields(rows, ("text", "label"), source)
    return [
        {"instruction": AGNEWS_INSTRUCTION, "input": row["text"], "output": AGNEWS_LABELS[int(row["label"])], "label": AGNEWS_LABELS[int(row["label"])]}
        for row in rows
    ]


def gsm8k_rows(rows: Sequence[Mapping], *, source: str = "gsm8k") -> list[dict]:
    require_fields(rows, ("question", "answer"), source)
    return [
        {
            "instruction": row["question"] + GSM8K_SUFFIX,
            "input": "",
            "output": row["answer"].replace("####", GSM8K_ANSWER_MARKER),
            "label": row["answer"],
        }
        for row in rows
    ]


def alpaca_rows(rows: Sequence[Mapping], *, source: str = "alpaca") -> list[dict]:
    require_fields(rows, ("instruction", "output"), source)
    return [{"instruction": row["instruction"], "input": row.get("input", "") or "", "output": row["output"]} for row in rows]


TASK_CONVERTERS = {"sst2": sst2_rows, "agnews": agnews_rows, "gsm8k": gsm8k_rows, "alpaca": alpaca_rows}

#: Default hub locations and splits of the real datasets (site/reference/protocol.md, 'Data').
HUB_SOURCES = {
    "beavertails_train": ("PKU-Alignment/BeaverTails", None, "30k_train"),
    "beavertails_test": ("PKU-Alignment/BeaverTails", None, "30k_test"),
    "beavertails_refusals": ("anonymous4486/repnoise_beavertail", None, "train"),
    "sst2_train": ("sst2", None, "train"),
    "sst2_eval": ("sst2", None, "validation"),
    "agnews_train": ("ag_news", None, "train"),
    "agnews_eval": ("ag_news", None, "test"),
    "gsm8k_train": ("gsm8k", "main", "train"),
    "gsm8k_eval": ("gsm8k", "main", "test"),
}


# ---------------------------------------------------------------------------------------------------------
# Sample windows and the mixture (site/reference/protocol.md, 'Data')


def sample_window(rows: Sequence[Any], start: int, stop: int, *, bounds: str = "half_open") -> list[Any]:
    """The rows whose index i lies in the window, in file order (no shuffling).

    `bounds="half_open"`: start <= i < stop (Vaccine/Lisa: "the first N rows" is the window [0, N)).
    `bounds="exclusive"`: start < i < stop, as Booster's and Antidote's loaders test the index, so
    the window (5000, 10000) holds 4999 rows.
    """
    if bounds == "half_open":
        lo, hi = start, stop
    elif bounds == "exclusive":
        lo, hi = start + 1, stop
    else:
        raise ValueError(f"unknown window bounds {bounds!r} (use 'half_open' or 'exclusive')")
    if start < 0 or stop < start:
        raise ValueError(f"bad sample window ({start}, {stop})")
    if hi > len(rows):
        raise ValueError(f"sample window ({start}, {stop}) needs {hi} rows, the data has {len(rows)}")
    return list(rows[lo:hi])


def mixture_counts(harmful_ratio: float, num_samples: int) -> tuple[int, int]:
    """(poison_num, normal_num) = (int(p·n), int((1-p)·n)), computed as the git-disl repos do."""
    if not 0.0 <= harmful_ratio <= 1.0:
        raise ValueError(f"harmful ratio must be in [0, 1], got {harmful_ratio}")
    if num_samples < 0:
        raise ValueError(f"number of samples must be >= 0, got {num_samples}")
    return int(harmful_ratio * num_samples), int((1 - harmful_ratio) * num_samples)


def user_mixture(
    harmful: Sequence[dict],
    benign: Sequence[dict],
    *,
    harmful_ratio: float,
    num_samples: int,
    harmful_start: int = 0,
    bounds: str = "half_open",
) -> list[dict]:
    """The user's fine-tuning set: p·n harmful rows (in file order from `harmful_start`) then (1-p)·n benign rows.

    Harmful rows come first, as in the repos; the Trainer's RandomSampler shuffles them. With `bounds="exclusive"`
    the harmful window is (harmful_start, harmful_start + p·n) with both ends excluded, as in Booster/Antidote.
    """
    poison_num, normal_num = mixture_counts(harmful_ratio, num_samples)
    if normal_num > len(benign):
        raise ValueError(f"the mixture needs {normal_num} benign rows, the benign data has {len(benign)}")
    harmful_part = sample_window(harmful, harmful_start, harmful_start + poison_num, bounds=bounds) if poison_num else []
    return [dict(row, harmful=True) for row in harmful_part] + [dict(row, harmful=False) for row in benign[:normal_num]]
