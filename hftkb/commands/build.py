"""`hftkb build`: validate the knowledge base, then build the website with `mkdocs build --strict`.

The site configuration is the knowledge base's own `mkdocs.yml` when it has one (this repository), otherwise
the one of the hftkb checkout, so `hftkb build --kb some/other/kb` renders another set of records with the
same site. The hooks in hftkb/site/hooks.py find the records through $HFTKB_KB.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HELP = "validate the records, then build the website (mkdocs build --strict) into --out (default: public/)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="output folder (default: <kb>/public)")
    parser.add_argument(
        "--config", type=Path, default=None, metavar="FILE",
        help="MkDocs configuration (default: <kb>/mkdocs.yml, else the one shipped with hftkb)",
    )
    parser.add_argument("--verbose", action="store_true", help="print MkDocs' progress messages too")


def default_config(kb_dir: Path) -> Path | None:
    own = kb_dir / "mkdocs.yml"
    if own.is_file():
        return own
    shipped = Path(__file__).resolve().parents[2] / "mkdocs.yml"  # the source checkout hftkb is installed from
    return shipped if shipped.is_file() else None


def build_site(kb_dir: Path, out_dir: Path, config_file: Path, *, verbose: bool = False) -> None:
    """Run `mkdocs build --strict` in-process; raises mkdocs' exceptions on failure."""
    import logging

    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    logger = logging.getLogger("mkdocs")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    previous = os.environ.get("HFTKB_KB")
    os.environ["HFTKB_KB"] = str(kb_dir.resolve())
    try:
        config = load_config(str(config_file), site_dir=str(out_dir.resolve()), strict=True)
        build(config)
    finally:
        logger.removeHandler(handler)
        if previous is None:
            os.environ.pop("HFTKB_KB", None)
        else:
            os.environ["HFTKB_KB"] = previous


def run(args: argparse.Namespace) -> int:
    from mkdocs.exceptions import Abort, MkDocsException

    from hftkb.validate import load_corpus

    kb_dir = Path(args.kb)
    corpus = load_corpus(kb_dir)
    if corpus.problems:
        for problem in corpus.problems:
            print(problem.format())
        print(f"hftkb build: {len(corpus.problems)} problem(s) in the records; nothing built", file=sys.stderr)
        return 1
    config_file = args.config or default_config(kb_dir)
    if config_file is None or not Path(config_file).is_file():
        print(f"error: no MkDocs configuration found ({config_file or kb_dir / 'mkdocs.yml'})", file=sys.stderr)
        return 2
    out_dir = args.out or kb_dir / "public"
    from hftkb.site.generate import PRELOADED

    PRELOADED[kb_dir.resolve()] = corpus  # the hooks reuse it instead of loading every record again
    started = time.perf_counter()
    try:
        build_site(kb_dir, out_dir, Path(config_file), verbose=args.verbose)
    except (Abort, MkDocsException) as err:
        print(f"error: site build failed: {str(err).strip() or type(err).__name__}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"error: site build failed: {err}", file=sys.stderr)
        return 1
    print(f"hftkb build: {len(corpus.papers)} papers -> {out_dir} in {time.perf_counter() - started:.1f} s")
    return 0
