"""`python -m reference_impl`: list, bad input (one line, exit 2, no traceback), run, the shipped configs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reference_impl import cli
from reference_impl.common.config import DEFAULTS, ConfigError, load_config
from reference_impl.registry import METHODS

ROOT = Path(__file__).resolve().parents[2]


def test_list_names_every_method_with_its_paper(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for method in METHODS.values():
        assert method.name in out
        if method.paper:
            assert f"{method.paper} (arXiv {method.arxiv})" in out


def test_module_entry_point_runs_without_a_traceback():
    done = subprocess.run([sys.executable, "-m", "reference_impl", "list"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "vaccine-2024" in done.stdout


@pytest.mark.parametrize(
    "text, message",
    [
        ("finetune:\n  harmfull_ratio: 0.2\n", r"bad.yaml:2: unknown key 'finetune.harmfull_ratio' \(did you mean 'harmful_ratio'\?\)"),
        ("seed: 1\nfinetune:\n  harmful_ratio: 1.5\n", r"bad.yaml:3: finetune.harmful_ratio must be in \[0, 1\], got 1.5"),
        ("alignment:\n  lr: fast\n", r"bad.yaml:2: alignment.lr must be a float, got 'fast'"),
        ("model: [1, 2]\n", r"bad.yaml:1: model must be a mapping"),
        ("finetune:\n  lora_mode: sometimes\n", r"bad.yaml:2: finetune.lora_mode must be one of new, continue, auto"),
        ("method_configs:\n  vacine: {rho: 2}\n", r"bad.yaml:2: method_configs.vacine names no registered method"),
        ("a: [\n", r"bad.yaml:2: invalid YAML"),
    ],
)
def test_config_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_set_overrides_are_typed_and_checked():
    config = load_config(None, ["finetune.harmful_ratio=0.2", "alignment.epochs=3", "evaluation.aligned=true",
                                "alignment.lora.targets=[q_proj, v_proj]", "method_config.rho=2"])
    assert config["finetune"]["harmful_ratio"] == 0.2 and config["alignment"]["epochs"] == 3
    assert config["evaluation"]["aligned"] is True and config["alignment"]["lora"]["targets"] == ["q_proj", "v_proj"]
    assert config["method_config"] == {"rho": 2}
    per_method = load_config(None, ["method_configs.lisa.alignment_steps=10", "method_configs.lisa.finetune_steps=90"])
    assert per_method["method_configs"] == {"lisa": {"alignment_steps": 10, "finetune_steps": 90}}
    assert DEFAULTS["finetune"]["harmful_ratio"] == 0.1  # the defaults are never modified
    with pytest.raises(ConfigError, match=r"--set finetune.harmful_ratio=-1: finetune.harmful_ratio must be in \[0, 1\]"):
        load_config(None, ["finetune.harmful_ratio=-1"])
    with pytest.raises(ConfigError, match="expected key.path=value"):
        load_config(None, ["finetune.harmful_ratio"])


def test_bad_run_prints_one_line_and_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("finetune:\n  harmful_ratio: 2\n")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and err.startswith("error: ") and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_missing_config_file(tmp_path, capsys):
    assert cli.main(["run", str(tmp_path / "none.yaml")]) == 2
    assert "config file does not exist" in capsys.readouterr().err


def test_too_many_samples_is_caught_before_training(tmp_path, capsys):
    code = cli.main(["run", str(cli.WORLD_CONFIG), "--set", "finetune.num_samples=999999", "--out", str(tmp_path)])
    assert code == 2
    assert "the mixture needs 99999 harmful rows" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()


def test_sweep_checks_every_config_first(tmp_path, capsys):
    code = cli.main(["sweep", str(cli.WORLD_CONFIG), "--methods", "sft,nope", "--ratios", "0", "--out", str(tmp_path)])
    assert code == 2 and "names no registered method: 'nope'" in capsys.readouterr().err
    assert cli.main(["sweep", str(cli.WORLD_CONFIG), "--ratios", "0,x"]) == 2


def test_run_writes_results_json_and_markdown(tmp_path, capsys):
    fast = ["world.pretrain_steps=20", "world.hidden_size=32", "alignment.max_steps=2", "finetune.max_steps=2",
            "finetune.num_samples=20", "evaluation.max_new_tokens=4"]
    args = ["run", str(cli.WORLD_CONFIG), "--method", "non_aligned", "--out", str(tmp_path)]
    for item in fast:
        args += ["--set", item]
    assert cli.main(args) == 0
    document = json.loads((tmp_path / "results.json").read_text())
    assert document["command"].startswith("python -m reference_impl")
    assert [(r["method"], r["harmful_ratio"]) for r in document["rows"]] == [("non_aligned", 0.1)]
    assert "| non_aligned | final | 0.1 |" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "reference_impl" / "configs").glob("*.yaml")))
def test_shipped_configs_load(name):
    config = load_config(ROOT / "reference_impl" / "configs" / name)
    assert config["method"] in METHODS


def test_demo_targets_logic():
    rows = [
        {"method": "sft", "stage": "aligned", "harmful_ratio": None, "hs": 2.0, "fa": 60.0, "benign_answered": 95.0},
        {"method": "sft", "stage": "final", "harmful_ratio": 0.0, "hs": 5.0, "fa": 92.0},
        {"method": "sft", "stage": "final", "harmful_ratio": 0.1, "hs": 80.0, "fa": 93.0},
    ]
    assert all(ok for _, ok in cli.check_targets(rows))
    rows[2]["fa"] = 85.0
    assert [ok for _, ok in cli.check_targets(rows)] == [True, False, True]
    rows[1]["hs"] = 50.0
    assert [ok for _, ok in cli.check_targets(rows)] == [True, False, False]


def test_registry_reads_without_torch_and_reference_impl_never_imports_hftkb():
    code = "import sys, reference_impl.registry; assert 'torch' not in sys.modules, 'registry imported torch'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "reference_impl").rglob("*.py")
                 if "import hftkb" in p.read_text() or "from hftkb" in p.read_text()]
    assert offenders == []


def test_distributed_non_main_rank_writes_nothing(tmp_path, monkeypatch):
    from reference_impl.pipeline import session

    monkeypatch.setenv("RANK", "1")
    assert not session.is_main_process()
    session.mark_done(tmp_path, {"x": 1})
    assert not (tmp_path / "DONE").exists()
    monkeypatch.setenv("RANK", "0")
    session.mark_done(tmp_path, {"x": 1})
    assert (tmp_path / "DONE").exists()
