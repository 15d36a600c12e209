"""The runs seam: load a run config, run one, run many (rows and failures), merge rows into a results file.

Every command that runs the pipeline goes through here (the CLI's run / sweep / demo, the matrix, the
experiments), so they share one error handling: a bad config, bad data or a run that stops (a NaN loss, a
setting a method refuses mid-run) becomes a `Failure` naming the run; the other runs go on; Ctrl-C keeps the
rows that finished and names the runs that did not. Configs are loaded (and so checked) before anything trains.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

CONFIG_DIR = Path(__file__).parent / "configs"
WORLD_CONFIG = CONFIG_DIR / "miniature_world.yaml"


@dataclass(frozen=True)
class Failure:
    """One run that did not finish. kind: "error" (config / data, before training), "stopped" (mid-run), or
    "not run" (interrupted before it started)."""

    run: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.run}: {self.kind}: {self.message}" if self.message else f"{self.run}: {self.kind}"


def load_run_config(path: str | Path, overrides: Iterable[str] = (), method: str | None = None) -> dict:
    """The checked config of `path` with `--set` overrides (and `method` when given); ConfigError in one line."""
    from .common.config import load_config

    return load_config(path, list(overrides) + ([f"method={method}"] if method else []))


def describe(config: dict) -> str:
    """A run's name in failure lines: method x attack, p, seed."""
    ft = config["finetune"]
    return f"{config['method']} x {ft['attack']} p={ft['harmful_ratio']} seed={config['seed']}"


def run_one(config: dict, out_dir: str | Path, log: Callable[[str], None] = print) -> tuple[list[dict], Failure | None]:
    """(result rows, None), or ([], the Failure) when the run could not start or stopped."""
    from .common.config import ConfigError
    from .common.data import DataError
    from .pipeline import PipelineError, run

    try:
        return run(config, out_dir, log=log), None
    except (ConfigError, DataError) as error:
        return [], Failure(describe(config), "error", str(error))
    except PipelineError as error:
        return [], Failure(describe(config), "stopped", str(error))


def run_many(configs: list[dict], out_dir: str | Path, log: Callable[[str], None] = print,
             keep: Callable[[dict, list[dict]], list[dict]] | None = None,
             progress: Path | None = None) -> tuple[list[dict], list[Failure]]:
    """Run each config in turn in one run directory (finished stages are shared and reused).

    `keep(config, rows)` picks (and may annotate) the rows of one run that go into the result (default: all);
    `progress`: a JSON file rewritten with the rows so far after each run. A failure is printed and recorded; the
    next run goes on. Ctrl-C stops the loop: the rows so far are returned, and the runs not done are failures."""
    import sys

    rows: list[dict] = []
    failures: list[Failure] = []
    done = 0
    try:
        for config in configs:
            result, failure = run_one(config, out_dir, log=log)
            done += 1
            if failure is not None:
                failures.append(failure)
                print(failure, file=sys.stderr)
                continue
            rows += keep(config, result) if keep else result
            if progress is not None:
                progress.parent.mkdir(parents=True, exist_ok=True)
                progress.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    except KeyboardInterrupt:
        failures += [Failure(describe(c), "not run", "interrupted") for c in configs[done:]]
        print(f"interrupted: {len(configs) - done} run(s) not done; finished stages are kept", file=sys.stderr)
    return rows, failures


def merge_rows(previous: dict | None, rows: list[dict], replaces: Callable[[dict], bool]) -> list[dict]:
    """The rows of a results document after a partial re-run: the previous rows that `replaces` does not match,
    then the new rows."""
    kept = [] if previous is None else [row for row in previous.get("rows", []) if not replaces(row)]
    return kept + rows


def merge_commands(previous: dict | None, command: str) -> str:
    """Every command that made a results file's rows, in order, once each."""
    earlier = previous["command"].split("; ") if previous and previous.get("command") else []
    return "; ".join(dict.fromkeys(earlier + [command]))


def read_document(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
