"""Stratum's MCP server for coding agents (optional extra: `pip install 'stratum[mcp]'`).

The agent writes a typed plan, the user approves it, the agent runs each step with its own
tools and reports the result; the server checks it (JSON Schema + safe `ensure` expressions),
meters the budget envelope and keeps a durable audit in `.stratum/mcp.sqlite3`.

Run it with `stratum mcp serve` or `python -m stratum.mcp`; `stratum mcp install` registers it
with Claude Code.
"""

from __future__ import annotations

try:
    from mcp.server.mcpserver import (
        MCPServer as _MCPServer,  # the extra's marker: fail here, with the fix
    )
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "stratum.mcp needs the MCP SDK, which is an optional extra: pip install 'stratum[mcp]'"
    ) from exc

del _MCPServer

from stratum.mcp._engine import Engine as Engine
from stratum.mcp._engine import ToolFailure as ToolFailure
from stratum.mcp._expr import Expression as Expression
from stratum.mcp._expr import ExpressionError as ExpressionError
from stratum.mcp._expr import compile_expression as compile_expression
from stratum.mcp._install import install as install
from stratum.mcp._install import uninstall as uninstall
from stratum.mcp._plan import Plan as Plan
from stratum.mcp._plan import parse_plan as parse_plan
from stratum.mcp._server import build_server as build_server
from stratum.mcp._server import main as main
from stratum.mcp._server import serve as serve

__all__ = (
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
