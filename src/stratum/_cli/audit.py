"""`stratum audit [FILE|DB] [--flow ID] [--last N] [--format table|md|json|html] [--open]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_STORE = ".stratum/traces.db"
"""Where `stratum audit` looks when no file is given (a `SqliteSink` path convention)."""


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give how many recent flows to show, e.g. --last 5") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} shows nothing; give 1 or more (or leave --last out to show every flow)")
    return value


def register(sub: Any) -> None:
    """Add the `audit` subcommand."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "audit",
        help="print the per-step audit (attempts, tokens, cost, retry reasons) of recorded flows",
        description=(
            "Read a JSONL file (JsonlSink) or SQLite store (SqliteSink) and print each flow's steps. "
            "--format html writes a self-contained page: timeline of calls and attempts, retry reasons, "
            "budget burn against the cap, cost per step."
        ),
    )
    parser.add_argument("path", nargs="?", default=DEFAULT_STORE, metavar="FILE|DB", help=f"trace file (default: {DEFAULT_STORE})")
    parser.add_argument("--flow", default=None, metavar="ID", help="only this flow: an id, a unique id prefix, or a flow name")
    parser.add_argument("--last", type=_positive, default=None, metavar="N", help="only the N most recent flows (N >= 1)")
    parser.add_argument(
        "--format", choices=("table", "md", "json", "html"), default=None,
        help="output format (default: table; html with --open)",
    )
    parser.add_argument("-o", "--output", default=None, metavar="FILE", help="write to FILE instead of stdout (e.g. AUDIT.md)")
    parser.add_argument(
        "--open", action="store_true",
        help="write the HTML audit (to --output, or a temporary file) and open it in the browser",
    )
    parser.set_defaults(handler=_run)


def _open(text: str, output: str | None) -> int:
    import tempfile
    import webbrowser

    if output is None:
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", prefix="stratum-audit-", suffix=".html", delete=False) as out:
            out.write(text)
            target = Path(out.name)
    else:
        target = Path(output)
        target.write_text(text, encoding="utf-8")
    url = target.resolve().as_uri()
    print(f"stratum audit: wrote {target}", file=sys.stderr)
    if not webbrowser.open(url):
        print(f"stratum audit: no browser found to open it; open {url} yourself", file=sys.stderr)
    return 0


def _run(args: argparse.Namespace) -> int:
    from stratum.exceptions import StratumError
    from stratum.trace import render_audit
    from stratum.trace._load import load_store

    fmt = args.format or ("html" if args.open else "table")
    if args.open and fmt != "html":
        print(f"stratum audit: --open shows the HTML page; drop --format {fmt} or use --format html", file=sys.stderr)
        return 2
    try:
        loaded = load_store(args.path)
        flows, records = loaded.flows, loaded.records
        if args.last is not None and args.flow is None:
            keep = {f.flow_id for f in sorted(flows, key=lambda f: f.started_at)[-args.last :]}
            flows = [f for f in flows if f.flow_id in keep]
            records = [r for r in records if r.flow_id in keep]
        text = render_audit(flows, records, format=fmt, flow=args.flow, dropped=loaded.dropped)
        if args.open:
            return _open(text, args.output)
        if args.output:
            with open(args.output, "w", encoding="utf-8") as out:
                out.write(text)
        else:
            sys.stdout.write(text)
    except (StratumError, OSError) as exc:
        print(f"stratum audit: {exc}", file=sys.stderr)
        return 1
    return 0
