"""Load a knowledge base and check it: what `hftkb validate` and every other command start with.

    corpus = load_corpus(Path("."))
    corpus.problems      # every problem found, sorted, each `path:line: CODE message`

The layers, in the order they run: each file is read (hftkb.yamlio) and each record checked alone against the
schema (hftkb.records) while the corpus is loaded and indexed (hftkb.corpus); then the checks across records
(hftkb.checks). The completeness warnings of `--strict` come on top (hftkb.strict).
"""

from __future__ import annotations

from pathlib import Path

from hftkb.checks import check_corpus
from hftkb.corpus import Corpus, read_corpus


def load_corpus(kb_dir: Path) -> Corpus:
    """Load and validate the knowledge base in `kb_dir` (hftkb.corpus.read_corpus skips the cross-record checks)."""
    corpus = read_corpus(kb_dir)
    if Path(kb_dir).is_dir():
        corpus.problems.extend(check_corpus(corpus))
        corpus.problems.sort()
    return corpus
