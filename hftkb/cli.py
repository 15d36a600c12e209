"""The `hftkb` command line: one sub-command per module in hftkb/commands/.

A command module `hftkb/commands/<name>.py` (underscores become dashes: import_awesome -> import-awesome)
defines `HELP: str`, `add_arguments(parser)` and `run(args) -> int`. This file finds them, adds the common
`--kb DIR` option, and runs the chosen one. Commands report expected problems themselves (`path:line: CODE
message` and a non-zero exit); an exception that still escapes is a bug, printed as one line (set
HFTKB_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

import hftkb
import hftkb.commands


def discover_commands() -> dict[str, ModuleType | Exception]:
    """Command name -> its module (or the exception raised while importing it), sorted by name."""
    found: dict[str, ModuleType | Exception] = {}
    for info in sorted(pkgutil.iter_modules(hftkb.commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        name = info.name.replace("_", "-")
        try:
            found[name] = importlib.import_module(f"hftkb.commands.{info.name}")
        except Exception as err:  # one broken command must not take the others down
            found[name] = err
    return found


def build_parser(commands: dict[str, ModuleType | Exception] | None = None) -> argparse.ArgumentParser:
    commands = discover_commands() if commands is None else commands
    parser = argparse.ArgumentParser(
        prog="hftkb",
        description="The harmful fine-tuning knowledge base: validate, format, import, build and query the records.",
    )
    parser.add_argument("--version", action="version", version=f"hftkb {hftkb.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in commands.items():
        if isinstance(module, Exception):
            sub = subparsers.add_parser(name, help=f"(unavailable: {type(module).__name__})")
            sub.set_defaults(_broken=module)
            sub.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            continue
        help_text = getattr(module, "HELP", "")
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--kb", type=Path, default=Path("."), metavar="DIR",
            help="the knowledge base directory (holding papers/, taxonomy/, faq/); default: the current directory",
        )
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    broken = getattr(args, "_broken", None)
    if broken is not None:
        print(f"error: command '{args.command}' could not be loaded: {type(broken).__name__}: {broken}", file=sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `hftkb validate | head`
        return 0
    except Exception as err:  # a bug: expected problems never reach this point
        if os.environ.get("HFTKB_DEBUG"):
            raise
        print(f"error: internal error in '{args.command}': {type(err).__name__}: {err} (HFTKB_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
