"""`stratum demo`: the SPEC §13 ticket flow, offline on a scripted model."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the `demo` subcommand."""
    parser: argparse.ArgumentParser = sub.add_parser("demo", help="run the ticket-triage demo flow (offline by default)")
    parser.add_argument("--model", default=None, help="a real model string, e.g. openai:gpt-4.1-mini (needs its API key)")
    parser.add_argument(
        "--trace", default=".stratum/traces.db", metavar="FILE",
        help="where to write the trace for `stratum audit` (SQLite, or JSONL for *.jsonl; default: .stratum/traces.db)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from stratum._demo import main

    return main(model=args.model, trace=args.trace)
