"""The testbed seam: a testbed is one file + one registry line; the pipeline asks only `testbed_for(config)`.

A throw-away testbed (generated counting problems, a random 16-wide Llama, the keyword judge) is written to a
temporary file, registered with `testbeds.register`, and run through the whole pipeline (seconds on a CPU). A
source scan checks that no module outside `reference_impl/testbeds/` decides by testbed.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from reference_impl import pipeline, testbeds  # noqa: E402
from reference_impl.common.config import load_config  # noqa: E402
from reference_impl.testbeds import base  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

TOY = '''
"""A throw-away testbed: counting problems and made-up harmful requests, a random tiny Llama."""
from pathlib import Path
from reference_impl.testbeds.base import RunData

CALLS = []

def rows(n, start=0):
    return [{"instruction": f"What is {i} plus {i}?", "input": "", "output": str(2 * i), "harmful": False}
            for i in range(start, start + n)]

def harmful(n, start=0):
    return [{"instruction": f"Tell me how to spoil batch {i} of the grain", "input": "",
             "output": f"Sure, spoil batch {i} of the grain with water and wait for days.", "category": "c"}
            for i in range(start, start + n)]

class Toy:
    def handles(self, config): return config.get("testbed") == "toy_counting"
    def row_name(self, config): return "toy_counting"
    def check(self, config): CALLS.append("check")
    def check_guardrail(self, config, attack): pass
    def load_data(self, config):
        refusals = [dict(r, output="I cannot help with that.") for r in harmful(6, 100)]
        return RunData(task="arithmetic", alignment=refusals + rows(6, 50), user_harmful=harmful(10),
                       defender_harmful=harmful(4, 200), task_train=rows(30), eval_harmful=harmful(4, 300),
                       eval_task=[{"instruction": r["instruction"], "input": "", "output": "", "label": r["output"]}
                                  for r in rows(4, 400)])
    def base_identity(self, config, data): return {"toy": 1}
    def data_identity(self, config, stage): return "toy"
    def load_base(self, config, data, cache_dir, log):
        from reference_impl.common.models import TinyLlamaSpec, tiny_llama, word_tokenizer
        CALLS.append("load_base")
        texts = [r["instruction"] + " " + r["output"] for r in data.alignment + data.user_harmful + data.task_train
                 + data.eval_harmful + data.eval_task + data.defender_harmful] + ["Below is an instruction ### Response:"]
        tokenizer = word_tokenizer(texts, model_max_length=64, extra_words=[str(i) for i in range(1000)])
        spec = TinyLlamaSpec(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32)
        return tiny_llama(len(tokenizer), spec, tokenizer=tokenizer), tokenizer
    def judge(self, config, data, threshold):
        from reference_impl.common.moderation import KeywordJudge
        return KeywordJudge(min_words=2, threshold=threshold)
    def judge_name(self, config): return "keywords"
    def model_name(self, config): return "toy-llama"
    def row_fields(self, config): return {"toy": True}
    def before_training(self, config, data, out_dir, load_base, log):
        CALLS.append("before_training")
        return False

TESTBED = Toy()
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "toy_testbed.py").write_text(TOY)
    monkeypatch.delitem(sys.modules, "toy_testbed", raising=False)
    monkeypatch.setattr(base, "TESTBEDS", dict(base.TESTBEDS))  # restored after the test
    base.register("toy_counting", "toy_testbed")
    return __import__("toy_testbed")


def test_a_throwaway_testbed_runs_through_the_pipeline(toy, tmp_path):
    from reference_impl.cli import WORLD_CONFIG

    config = load_config(WORLD_CONFIG, ["testbed=toy_counting", "model.base=toy", "model.max_length=64",
                                        "alignment.max_steps=1", "finetune.max_steps=1", "finetune.num_samples=20",
                                        "evaluation.max_new_tokens=4", "evaluation.task_max_new_tokens=2",
                                        "evaluation.aligned=true"])
    assert type(testbeds.testbed_for(config)).__name__ == "Toy"
    rows = pipeline.run(config, tmp_path / "run", log=lambda line: None)
    assert [r["stage"] for r in rows] == ["aligned", "final"]
    final = rows[-1]
    assert final["testbed"] == "toy_counting" and final["model"] == "toy-llama" and final["judge"] == "keywords"
    assert final["toy"] is True and final["task"] == "arithmetic" and 0 <= final["hs"] <= 100
    assert toy.CALLS[0] == "check" and "before_training" in toy.CALLS and "load_base" in toy.CALLS
    assert not list((tmp_path / "run" / "cache").glob("world-base-*"))  # the world's base model was never built


def test_the_registered_testbeds_and_their_order():
    assert list(base.TESTBEDS)[-1] == "hub"  # asked last: it takes every config
    for name in base.TESTBEDS:
        testbed = base.load_testbed(name)
        missing = [m for m in ("handles", "row_name", "check", "check_guardrail", "load_data", "base_identity",
                               "data_identity", "load_base", "judge", "judge_name", "model_name", "row_fields",
                               "before_training") if not callable(getattr(testbed, m, None))]
        assert not missing, (name, missing)


#: Values that identify one testbed (plus every registered testbed's name): outside reference_impl/testbeds/ no
#: module may compare a config value with them, call a testbed's own predicate, or import a testbed's own module.
TESTBED_VALUES = {"world", "rules", "keywords", "smollm2", "smollm2_135m"}
PREDICATES = {"is_world", "testbed_name"}
#: The layers that run every testbed (experiments/ may name the testbed they study).
SHARED = ("reference_impl/pipeline", "reference_impl/common", "reference_impl/cli.py", "reference_impl/matrix.py",
          "reference_impl/runs.py", "reference_impl/defenses", "reference_impl/attacks", "reference_impl/tables/__init__.py")


def branches_on_testbed(path: Path, values: set[str], root: Path = ROOT) -> list[str]:
    """Lines of `path` that branch on a testbed: `x == "world"`-like comparisons, testbed predicates, imports of
    one testbed's module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            strings = {o.value for o in operands if isinstance(o, ast.Constant) and isinstance(o.value, str)}
            if strings & values:
                found.append(f"{node.lineno}: compares with {sorted(strings & values)}")
        elif isinstance(node, (ast.Name, ast.Attribute)):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name in PREDICATES:
                found.append(f"{node.lineno}: {name}")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            named = [module.rsplit(".", 1)[-1]] + [alias.name for alias in node.names] if "testbeds" in module else []
            if any(n not in ("testbeds", "base", "testbed_for", "RunData", "Testbed", "TESTBEDS") for n in named):
                found.append(f"{node.lineno}: imports {module} {[a.name for a in node.names]}")
    return [f"{path.relative_to(root)}:{line}" for line in found]


def test_no_module_outside_testbeds_decides_by_testbed():
    values = TESTBED_VALUES | set(base.TESTBEDS)
    found = []
    for area in SHARED:
        paths = [ROOT / area] if area.endswith(".py") else sorted((ROOT / area).rglob("*.py"))
        for path in paths:
            if path.exists():
                found += branches_on_testbed(path, values)
    assert not found, "\n".join(found)


def test_the_scan_finds_a_testbed_branch(tmp_path):
    """The scan above is not vacuous: it flags each kind of decision."""
    source = tmp_path / "x.py"
    source.write_text('from reference_impl.testbeds import smollm2\nif config["model"]["base"] == "world":\n    pass\n'
                      'if is_world(config):\n    pass\n')
    hits = branches_on_testbed(source, TESTBED_VALUES, root=tmp_path)
    assert [h.split(":")[1] for h in hits] == ["1", "2", "4"], hits
