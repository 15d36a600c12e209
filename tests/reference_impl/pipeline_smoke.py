"""Shared by the defenses' pipeline smoke tests: run the pipeline CLI on a shrunken miniature world; and hashes
that prove a method left its inputs alone (a directory on disk, a model in memory).

Not a test module (no `test_` prefix); the smoke tests import it by name (pytest puts this folder on sys.path).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

#: A world small enough for a smoke test: a barely pre-trained 32-wide model, a few steps per stage.
FAST = [
    "world.pretrain_steps=5", "world.hidden_size=32",
    "alignment.max_steps=2", "finetune.max_steps=2", "finetune.num_samples=20",
    "evaluation.max_new_tokens=3", "evaluation.task_max_new_tokens=2",
]


def run_cli(out: Path, method: str, *extra: str) -> int:
    """`python -m reference_impl run <world config> --method METHOD --out OUT --set ...`; returns the exit code."""
    from reference_impl import cli

    args = ["run", str(cli.WORLD_CONFIG), "--method", method, "--out", str(out)]
    for item in FAST + list(extra):
        args += ["--set", item]
    return cli.main(args)


def digest(directory: Path) -> str:
    """One hash of every file under `directory` (names and bytes), to prove a post-processing step left it alone."""
    sha = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            sha.update(path.name.encode() + path.read_bytes())
    return sha.hexdigest()


def state_hash(model) -> str:
    """One hash of a model's state dict (names and bytes), to prove a method left an input model alone."""
    sha = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        sha.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
    return sha.hexdigest()
