"""`stratum lint PATH…`: LLM calls outside Stratum; `--hook` reads a Claude Code hook payload."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add the `lint` subcommand."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "lint", help="flag LLM calls made outside Stratum and hand-written retry loops"
    )
    parser.add_argument(
        "paths", nargs="*", type=Path,
        help="files or directories (default: .); exit 1 on findings, 2 on a missing path or a file that does not parse",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument(
        "--hook", action="store_true",
        help="read a Claude Code PostToolUse payload on stdin and lint the edited file (exit 2 on findings)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from stratum.lint import hook_paths, lint_paths

    if args.hook:
        paths = hook_paths(sys.stdin.read())
        if not paths:
            return 0
        report = lint_paths(paths)
        if not report.findings:
            return 0
        # Exit 2 sends stderr back to Claude Code's agent, which then fixes the file.
        for finding in report.findings:
            print(finding.format(), file=sys.stderr)
        print("Stratum: route LLM calls through @infer (see the stratum-plan skill), "
              "or add `# stratum: ignore[CODE]` if this call is intended.", file=sys.stderr)
        return 2
    paths: list[Path] = args.paths or [Path(".")]
    missing = [p for p in paths if not p.exists()]
    if missing:
        for path in missing:
            print(f"stratum lint: {path}: no such file or directory; pass existing files or directories", file=sys.stderr)
        return 2
    report = lint_paths(paths)
    if args.format == "json":
        print(json.dumps({"findings": [f.to_json() for f in report.findings], "files": report.files,
                          "skipped": report.skipped}, indent=2))
    else:
        for finding in report.findings:
            print(finding.format())
        for note in report.skipped:
            print(f"stratum lint: skipped {note}", file=sys.stderr)
    if report.findings:
        return 1
    # A file that could not be checked is not a passing file.
    return 2 if report.skipped else 0
