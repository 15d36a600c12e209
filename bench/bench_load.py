"""Load and validate a synthetic knowledge base of 10,000 paper records (issue 2: target <= 3 s).

The records are written in canonical form to a temporary directory with the project's taxonomy; each has
links, identifiers, tags, a venue, a summary and a relation, so the loader, the pydantic models and every
corpus check do their full work. Printed: the wall time of `load_corpus` (best of three) and records/second.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path

N_RECORDS = 10_000  # above hftkb.corpus.CACHE_MIN_FILES: the parse cache (in <kb>/.cache/) is used
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


def main() -> None:
    from hftkb.corpus import load_corpus

    with tempfile.TemporaryDirectory(prefix="hftkb-bench-") as tmp:
        root = Path(tmp) / "kb"
        root.mkdir()
        write_synthetic_kb(root)
        runs = []
        for _ in range(4):  # the first run is cold (parses everything, writes the cache), then warm runs
            start, cpu_start = time.perf_counter(), time.process_time()
            corpus = load_corpus(root)
            runs.append((time.perf_counter() - start, time.process_time() - cpu_start))
            assert len(corpus.papers) == N_RECORDS and not corpus.problems, corpus.problems[:3]
    cold, warm = runs[0], min(runs[1:])
    # On a shared machine the wall time depends on the neighbours: the CPU time of this process is printed too.
    print(f"load+validate {N_RECORDS:,} records: cold {cold[0]:.2f} s wall / {cold[1]:.2f} s CPU (every file parsed); "
          f"warm {warm[0]:.2f} s wall / {warm[1]:.2f} s CPU (parse cache hit, all checks and validation run); "
          f"target <= 3 s; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
