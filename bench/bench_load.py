"""Load and validate a synthetic knowledge base of 10,000 paper records (issue 2: target <= 3 s).

The records are written in canonical form to a temporary directory with the project's taxonomy; each has
links, identifiers, tags, a venue, a summary and a relation, so the loader, the pydantic models and every
corpus check do their full work. Printed: wall and CPU time of `load_corpus` cold (every file parsed; in
one process per CPU, and in one process) and warm (parse cache hit), with the load average.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path

N_RECORDS = 10_000  # above hftkb.corpus.CACHE_MIN_FILES and PARALLEL_MIN_FILES: cache and workers are used
REPO = Path(__file__).resolve().parents[1]


def write_synthetic_kb(root: Path, n: int = N_RECORDS) -> None:
    from hftkb.models import Paper
    from hftkb.yamlio import dump_record

    shutil.copytree(REPO / "taxonomy", root / "taxonomy")
    papers = root / "papers"
    papers.mkdir()
    stages = ["alignment", "fine_tuning", "post_fine_tuning"]
    for i in range(n):
        paper = Paper(
            id=f"synthetic-paper-{i}",
            title=f"Synthetic paper number {i} on harmful fine-tuning",
            short_name=f"Syn{i}",
            authors=["Ada Lovelace", "Alan Turing"],
            date=dt.date(2020 + i % 5, 1 + i % 12, 1 + i % 28),
            venue={"name": "neurips", "year": 2024},
            kind="defense",
            stage=stages[i % 3],
            tags=["lora", "open_weight"],
            identifiers={"arxiv": f"{2300 + i % 100}.{i:05d}"},
            links=[{"kind": "paper", "url": f"https://arxiv.org/abs/{2300 + i % 100}.{i:05d}"},
                   {"kind": "code", "url": f"https://github.com/example/syn{i}"}],
            summary="A synthetic record used to measure loading speed. " * 3,
            needs=["alignment_data"],
            relations=[{"type": "compares_to", "target": f"synthetic-paper-{(i + 1) % n}"}],
            added=dt.date(2026, 1, 1),
        )
        (papers / f"{paper.id}.yaml").write_text(dump_record(paper), encoding="utf-8")


def _timed_load(root: Path, **env: str) -> tuple[float, float]:
    """(wall s, CPU s of this process and of the parse workers) of one load_corpus with `env` set."""
    import resource

    from hftkb.validate import load_corpus

    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        start, cpu_start = time.perf_counter(), time.process_time()
        corpus = load_corpus(root)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu += (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    assert len(corpus.papers) == N_RECORDS and not corpus.problems, corpus.problems[:3]
    return wall, cpu


def main() -> None:
    from hftkb.corpus import parse_workers

    with tempfile.TemporaryDirectory(prefix="hftkb-bench-") as tmp:
        root = Path(tmp) / "kb"
        root.mkdir()
        write_synthetic_kb(root)
        load_before = os.getloadavg()[0]
        # Cold: every file read and parsed (the first run also writes the parse cache), in one process per CPU.
        cold = [_timed_load(root), _timed_load(root, HFTKB_NO_CACHE="1")]
        serial = _timed_load(root, HFTKB_NO_CACHE="1", HFTKB_WORKERS="1")  # cold, parsed in this process only
        warm = [_timed_load(root) for _ in range(2)]  # parse cache hit; every check and validation still run
        load_after = os.getloadavg()[0]

    def show(label: str, runs: list[tuple[float, float]]) -> str:
        wall = min(run[0] for run in runs)
        cpus = sorted(run[1] for run in runs)
        cpu = f"{cpus[0]:.2f}" if len(cpus) == 1 else f"{cpus[0]:.2f}-{cpus[-1]:.2f}"
        return f"{label} {wall:.2f} s wall / {cpu} s CPU"

    # On a shared machine the wall time depends on the neighbours: CPU time (workers included) and the load
    # average are printed too.
    print(f"load+validate {N_RECORDS:,} records (target <= 3 s): "
          f"{show(f'cold, {parse_workers()} parse processes', cold)}; {show('cold, 1 process', [serial])}; "
          f"{show('warm (parse cache)', warm)}; {os.cpu_count()} CPUs, load average {load_before:.1f} before, "
          f"{load_after:.1f} after")


if __name__ == "__main__":
    main()
