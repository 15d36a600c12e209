"""The `hftkb` sub-commands, one module each (see hftkb.cli), and the little they share."""

from __future__ import annotations

import sys
from pathlib import Path


def read_input(path: Path) -> str | None:
    """The text of an input file (a copy of the companion list...), or None after printing why it cannot be read
    (`path:0: E101 ...`, one line per problem, on standard error)."""
    from hftkb.yamlio import LoadError, read_text

    try:
        return read_text(path)
    except LoadError as err:
        for problem in err.problems:
            print(problem.format(), file=sys.stderr)
        return None
