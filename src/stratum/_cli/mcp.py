"""`stratum mcp serve|install|uninstall`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add the `mcp` subcommand group."""
    parser: argparse.ArgumentParser = sub.add_parser("mcp", help="the MCP server for coding agents (needs stratum[mcp])")
    actions = parser.add_subparsers(dest="mcp_command", metavar="ACTION")
    serve = actions.add_parser("serve", help="serve the Stratum tools over stdio")
    serve.add_argument("--dir", default=None, help="project directory holding .stratum/ (default: cwd)")
    serve.set_defaults(handler=_serve)
    for name, helptext in (("install", "register the server, rules, skill and lint hook with Claude Code"),
                           ("uninstall", "remove exactly what install added")):
        p = actions.add_parser(name, help=helptext)
        p.add_argument("--dir", type=Path, default=Path("."), help="project directory (default: .)")
        p.set_defaults(handler=_install if name == "install" else _uninstall)

    def usage(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(handler=usage)


def _serve(args: argparse.Namespace) -> int:
    from stratum.mcp import serve

    serve(args.dir)
    return 0


def _install(args: argparse.Namespace) -> int:
    return _apply(args, install=True)


def _uninstall(args: argparse.Namespace) -> int:
    return _apply(args, install=False)


def _apply(args: argparse.Namespace, *, install: bool) -> int:
    try:
        from stratum.mcp import install as do_install
        from stratum.mcp import uninstall as do_uninstall
    except ImportError as exc:
        print(f"stratum mcp: {exc}", file=sys.stderr)
        return 1
    try:
        changes = (do_install if install else do_uninstall)(args.dir)
    except (OSError, ValueError) as exc:
        print(f"stratum mcp: {exc}", file=sys.stderr)
        return 1
    for change in changes:
        print(change)
    if not changes:
        print("nothing to do: " + ("already installed" if install else "not installed"))
    elif install:
        print("Restart Claude Code in this directory; `/mcp` lists the stratum server.")
    return 0
