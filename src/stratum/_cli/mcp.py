"""`stratum mcp serve|install|uninstall|validate|audit|gate`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

_HINT = "the Stratum MCP server needs the `mcp` extra: pip install 'stratum[mcp]'"


def register(sub: Any) -> None:
    """Add the `mcp` subcommand group."""
    parser: argparse.ArgumentParser = sub.add_parser("mcp", help="the MCP server for coding agents (needs stratum[mcp])")
    actions = parser.add_subparsers(dest="mcp_command", metavar="ACTION")
    serve = actions.add_parser("serve", help="serve the Stratum tools over stdio")
    serve.add_argument("--dir", default=None, help="project directory holding .stratum/ (default: cwd)")
    serve.set_defaults(handler=_serve)
    for name, helptext in (("install", "register the server, rules, skill and lint hook with Claude Code (or Codex)"),
                           ("uninstall", "remove exactly what install added")):
        p = actions.add_parser(name, help=helptext)
        p.add_argument("--dir", type=Path, default=Path("."), help="project directory (default: .)")
        p.add_argument("--client", action="append", choices=("claude", "codex"), default=None,
                       help="which agent to wire in (repeatable; default: claude)")
        p.set_defaults(handler=_install if name == "install" else _uninstall)
    validate = actions.add_parser("validate", help="check a plan file offline (exit 1 when invalid)")
    validate.add_argument("file", type=Path, help="the plan JSON file ('-' reads stdin)")
    validate.set_defaults(handler=_validate)
    audit = actions.add_parser("audit", help="print a plan's audit (to commit next to the code)")
    audit.add_argument("plan_id")
    audit.add_argument("--format", choices=("table", "md", "json"), default="table")
    audit.add_argument("--dir", default=None, help="project directory holding .stratum/ (default: cwd)")
    audit.set_defaults(handler=_audit)
    gate = actions.add_parser("gate", help="resolve a gate step (or ':budget', a pending budget extension) as a human")
    gate.add_argument("plan_id")
    gate.add_argument("step_id")
    gate.add_argument("outcome", choices=("approve", "revise", "kill"))
    gate.add_argument("--rationale", default="", help="why (recorded in the audit)")
    gate.add_argument("--by", default="human", help="who decided (default: human)")
    gate.add_argument("--dir", default=None, help="project directory holding .stratum/ (default: cwd)")
    gate.set_defaults(handler=_gate)

    def usage(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(handler=usage)


def _missing_extra() -> bool:
    try:
        import jsonschema  # noqa: F401  # pyright: ignore[reportUnusedImport]
        import mcp.server.mcpserver  # noqa: F401  # pyright: ignore[reportUnusedImport]
        import regex  # noqa: F401  # pyright: ignore[reportUnusedImport]
    except ImportError:
        print(f"stratum mcp: {_HINT}", file=sys.stderr)
        return True
    return False


def _serve(args: argparse.Namespace) -> int:
    if _missing_extra():
        return 1
    from stratum.mcp import serve

    serve(args.dir)
    return 0


def _install(args: argparse.Namespace) -> int:
    return _apply(args, install=True)


def _uninstall(args: argparse.Namespace) -> int:
    return _apply(args, install=False)


def _apply(args: argparse.Namespace, *, install: bool) -> int:
    from stratum.mcp import install as do_install  # standard library only: works without the extra
    from stratum.mcp import uninstall as do_uninstall

    clients = tuple(dict.fromkeys(args.client or ["claude"]))
    try:
        changes = (do_install if install else do_uninstall)(args.dir, clients=clients)
    except (OSError, ValueError) as exc:
        print(f"stratum mcp: {exc}", file=sys.stderr)
        return 1
    for change in changes:
        print(change)
    if not changes:
        print("nothing to do: " + ("already installed" if install else "not installed"))
    elif install:
        print("Restart your agent in this directory (Claude Code: `/mcp` lists the stratum server).")
    return 0


def _validate(args: argparse.Namespace) -> int:
    if _missing_extra():
        return 1
    from stratum.mcp import parse_plan

    try:
        text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"stratum mcp validate: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    _, errors = parse_plan(text)
    if not errors:
        print(f"{args.file}: valid")
        return 0
    for e in errors:
        print(f"{args.file}: {e['path'] or 'plan'}: {e['code']}: {e['message']}")
    return 1


def _engine(directory: str | None) -> Any:
    from stratum.mcp import Engine
    from stratum.mcp._server import resolve_directory

    path = resolve_directory(directory)
    if not (path / "mcp.sqlite3").exists():
        print(f"stratum mcp: no plans here ({path / 'mcp.sqlite3'} does not exist); pass --dir PROJECT", file=sys.stderr)
        return None
    return Engine(path)


def _audit(args: argparse.Namespace) -> int:
    if _missing_extra():
        return 1
    from stratum.mcp import ToolFailure

    engine = _engine(args.dir)
    if engine is None:
        return 1
    try:
        audit = engine.audit(args.plan_id, format="md" if args.format == "md" else "table")
    except ToolFailure as exc:
        print(f"stratum mcp audit: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.close()
    if args.format == "json":
        print(json.dumps(audit, indent=2, ensure_ascii=False))
    elif args.format == "md":
        print(f"## Stratum audit: {audit['name']} (plan {audit['plan_id']}, approved by {audit['approved_by'] or 'nobody'})\n")
        print(audit["rendered"])
    else:
        print(audit["rendered"])
    return 0


def _gate(args: argparse.Namespace) -> int:
    if _missing_extra():
        return 1
    from stratum.mcp import ToolFailure

    engine = _engine(args.dir)
    if engine is None:
        return 1
    try:
        out = engine.gate_resolve(args.plan_id, args.step_id, args.outcome, args.rationale, args.by, method="cli")
    except ToolFailure as exc:
        print(f"stratum mcp gate: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.close()
    ready = ", ".join(r["id"] for r in out.get("ready", [])) or "none"
    print(f"{args.plan_id} {args.step_id}: {args.outcome} → plan {out.get('plan_status', out['status'])}; ready: {ready}")
    return 0
