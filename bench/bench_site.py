"""Site build speed and size (issue 3): `python -m bench site`.

For synthetic corpora of 1,000 and 10,000 records (hftkb.site.synthetic, the real record schema), it times
`hftkb build` (validation + generated pages + `mkdocs build --strict`) and, in the same run, bare Material for
MkDocs building the same number of plain Markdown pages (each with the record's title, authors and summary; same
theme, features and search plugin; not in the nav, like our paper pages). It prints the build-time ratio, the
output size and the search-index size against the targets, then times the real corpus.

Targets at 10,000 records: ratio <= 1.5, output <= 250 MB, search index <= 10 MB; the real corpus < 10 s.
Set HFTKB_BENCH_SIZES=1000 to run the small corpus only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"ratio": 1.5, "output_mb": 250.0, "search_mb": 10.0, "real_s": 10.0}

BARE_CONFIG = """site_name: Bare Material
docs_dir: docs
site_dir: {site_dir}
strict: true
not_in_nav: |
  /pages/
theme:
  name: material
  font: false
  features: [navigation.tabs, navigation.sections, navigation.indexes, navigation.prune, search.suggest]
plugins:
  - search
nav:
  - Home: index.md
"""


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+system) of one run of `command`.

    CPU time is what the ratios use: on this shared 2-core machine other jobs change wall time by 2x from one
    minute to the next, while a build's CPU time stays put (a build uses one core).
    """
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"bench_site: `{' '.join(command)}` failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


#: `hftkb` of this checkout: `python -c` puts the working folder (REPO) first on sys.path, whereas the installed
#: `hftkb` script would import the checkout the virtual environment was installed from.
HFTKB = [sys.executable, "-c", "import sys; from hftkb.cli import main; sys.exit(main())"]


def write_bare_project(root: Path, papers) -> Path:
    docs = root / "docs"
    (docs / "pages").mkdir(parents=True)
    (docs / "index.md").write_text("# Bare Material\n\nThe baseline: plain pages, no hooks.\n")
    for paper in papers:
        (docs / "pages" / f"{paper.id}.md").write_text(
            f"# {paper.title}\n\n*{', '.join(paper.authors)}*\n\n{paper.summary}\n\n{' '.join(paper.tags)}\n"
        )
    (root / "mkdocs.yml").write_text(BARE_CONFIG.format(site_dir=root / "public"))
    return root


def bench_size(n: int, work: Path) -> dict:
    from hftkb.site.synthetic import make_kb, make_papers

    kb = make_kb(work / f"kb{n}", n, hostile=False)
    bare = write_bare_project(work / f"bare{n}", make_papers(n, hostile=False))
    bin_dir = Path(sys.executable).parent
    ours_out = work / f"public{n}"
    # Bare first, then ours, each once (on 2 shared cores a 10k build takes minutes).
    bare_s, bare_cpu = timed([str(bin_dir / "mkdocs"), "build", "--strict", "--quiet"], cwd=bare)
    ours_s, ours_cpu = timed([*HFTKB, "build", "--kb", str(kb), "--out", str(ours_out)], cwd=REPO)
    return {
        "n": n,
        "ours_s": ours_s,
        "bare_s": bare_s,
        "ours_cpu": ours_cpu,
        "bare_cpu": bare_cpu,
        "ratio": ours_cpu / bare_cpu,
        "wall_ratio": ours_s / bare_s,
        "output_mb": folder_mb(ours_out),
        "bare_output_mb": folder_mb(bare / "public"),
        "search_mb": (ours_out / "search" / "search_index.json").stat().st_size / 1e6,
        "bare_search_mb": (bare / "public" / "search" / "search_index.json").stat().st_size / 1e6,
        "pages": sum(1 for _ in ours_out.rglob("*.html")),  # MkDocs pages and the static author pages
    }


def bench_real(work: Path) -> tuple[float, float] | None:
    if not any((REPO / "papers").glob("*.yaml")):
        return None
    return timed([*HFTKB, "build", "--out", str(work / "public-real")], cwd=REPO)


def verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "OVER TARGET"


def main() -> None:
    sizes = [int(s) for s in os.environ.get("HFTKB_BENCH_SIZES", "1000,10000").split(",")]
    work = Path(tempfile.mkdtemp(prefix="hftkb-bench-site-"))
    try:
        print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}; python {sys.version.split()[0]}")
        for n in sizes:
            r = bench_size(n, work)
            print(
                f"{r['n']:>6} records: hftkb build {r['ours_cpu']:.1f} s CPU / {r['ours_s']:.1f} s wall "
                f"({r['pages']} pages); bare Material {r['bare_cpu']:.1f} s CPU / {r['bare_s']:.1f} s wall -> "
                f"ratio {r['ratio']:.2f} CPU, {r['wall_ratio']:.2f} wall (target <= {TARGETS['ratio']}: "
                f"{verdict(r['ratio'], TARGETS['ratio']) if n == 10000 else 'informative'})"
            )
            print(
                f"        output {r['output_mb']:.1f} MB (bare {r['bare_output_mb']:.1f} MB; target at 10k <= "
                f"{TARGETS['output_mb']:.0f}: {verdict(r['output_mb'], TARGETS['output_mb'])}), search index "
                f"{r['search_mb']:.2f} MB (bare {r['bare_search_mb']:.2f} MB; target <= {TARGETS['search_mb']:.0f}: "
                f"{verdict(r['search_mb'], TARGETS['search_mb'])})"
            )
            shutil.rmtree(work / f"public{n}", ignore_errors=True)
            shutil.rmtree(work / f"bare{n}", ignore_errors=True)
        real = bench_real(work)
        if real is not None:
            wall, cpu = real
            print(
                f"real corpus: hftkb build {wall:.1f} s wall, {cpu:.1f} s CPU (target < {TARGETS['real_s']:.0f} s: "
                f"{verdict(wall, TARGETS['real_s'])})"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
