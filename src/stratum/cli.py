"""The `stratum` command. Each subcommand lives in `stratum._cli.<name>` with a `register()`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ("main",)

COMMANDS = (
    "stratum._cli.demo",
    "stratum._cli.audit",
    "stratum._cli.mcp",
    "stratum._cli.lint",
    "stratum._cli.pricing",
)
"""Modules that add subcommands; each exposes `register(subparsers)`."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    from stratum import __version__

    parser = argparse.ArgumentParser(prog="stratum", description="Typed, budgeted, traced LLM calls.")
    parser.add_argument("--version", action="version", version=f"stratum {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `stratum` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    code: int = handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
