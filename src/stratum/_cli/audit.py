"""`stratum audit [FILE|DB] [--flow ID] [--format table|md|json]`: the per-step audit of flows."""

from __future__ import annotations

import argparse
import sys
from typing import Any

DEFAULT_STORE = ".stratum/traces.db"
"""Where `stratum audit` looks when no file is given (a `SqliteSink` path convention)."""


def register(sub: Any) -> None:
    """Add the `audit` subcommand."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "audit",
        help="print the per-step audit (attempts, tokens, cost, retry reasons) of recorded flows",
        description="Read a JSONL file (JsonlSink) or SQLite store (SqliteSink) and print each flow's steps.",
    )
    parser.add_argument("path", nargs="?", default=DEFAULT_STORE, metavar="FILE|DB", help=f"trace file (default: {DEFAULT_STORE})")
    parser.add_argument("--flow", default=None, metavar="ID", help="only this flow: an id, a unique id prefix, or a flow name")
    parser.add_argument("--last", type=int, default=None, metavar="N", help="only the N most recent flows")
    parser.add_argument("--format", choices=("table", "md", "json"), default="table", help="output format (default: table)")
    parser.add_argument("-o", "--output", default=None, metavar="FILE", help="write to FILE instead of stdout (e.g. AUDIT.md)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from stratum.exceptions import StratumError
    from stratum.trace import render_audit
    from stratum.trace._load import load_store

    try:
        loaded = load_store(args.path)
        flows, records = loaded.flows, loaded.records
        if args.last is not None and args.flow is None:
            keep = {f.flow_id for f in sorted(flows, key=lambda f: f.started_at)[-args.last :]} if args.last > 0 else set[str]()
            flows = [f for f in flows if f.flow_id in keep]
            records = [r for r in records if r.flow_id in keep]
        text = render_audit(flows, records, format=args.format, flow=args.flow, dropped=loaded.dropped)
    except (StratumError, OSError) as exc:
        print(f"stratum audit: {exc}", file=sys.stderr)
        return 1
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0
