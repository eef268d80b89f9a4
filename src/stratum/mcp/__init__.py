"""Stratum's MCP server for coding agents (optional extra: `pip install 'stratum[mcp]'`).

The agent writes a typed plan, the user approves it, the agent runs each step with its own
tools and reports the result; the server checks it (JSON Schema, guardrails, safe `ensure`
expressions), routes failures back to the step that caused them, waits at gates, meters the
budget envelope and keeps a durable audit in `.stratum/mcp.sqlite3`.

Run it with `stratum mcp serve` or `python -m stratum.mcp`; `stratum mcp install` registers it
with Claude Code (or Codex). `install`/`uninstall` need only the standard library; everything
else needs the extra, and importing it without the extra raises an `ImportError` naming the fix.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stratum.mcp._install import install as install
from stratum.mcp._install import uninstall as uninstall

if TYPE_CHECKING:
    from stratum.mcp._engine import Engine as Engine
    from stratum.mcp._engine import ToolFailure as ToolFailure
    from stratum.mcp._expr import Expression as Expression
    from stratum.mcp._expr import ExpressionError as ExpressionError
    from stratum.mcp._expr import compile_expression as compile_expression
    from stratum.mcp._plan import Plan as Plan
    from stratum.mcp._plan import parse_plan as parse_plan
    from stratum.mcp._server import build_server as build_server
    from stratum.mcp._server import main as main
    from stratum.mcp._server import serve as serve

__all__ = (
    "EXTRA_HINT",
    "Engine",
    "Expression",
    "ExpressionError",
    "Plan",
    "ToolFailure",
    "build_server",
    "compile_expression",
    "install",
    "main",
    "parse_plan",
    "serve",
    "uninstall",
)

EXTRA_HINT = "the Stratum MCP server needs the `mcp` extra: pip install 'stratum[mcp]'"
"""The one-line fix printed when the extra is missing."""

_LAZY = (
    ("stratum.mcp._engine", ("Engine", "ToolFailure")),
    ("stratum.mcp._expr", ("Expression", "ExpressionError", "compile_expression")),
    ("stratum.mcp._plan", ("Plan", "parse_plan")),
    ("stratum.mcp._server", ("build_server", "main", "serve")),
)


def __getattr__(name: str) -> Any:
    for module, names in _LAZY:
        if name in names:
            try:
                return getattr(importlib.import_module(module), name)
            except ImportError as exc:
                raise ImportError(f"{EXTRA_HINT} ({exc})") from exc
    raise AttributeError(f"module 'stratum.mcp' has no attribute {name!r}")
