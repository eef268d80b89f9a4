"""`stratum pricing`: show a model's resolved price, or check a project's models all have one."""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ("find_model_strings", "register")

_SKIP_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", "build", "dist", ".tox"})


def register(sub: Any) -> None:
    """Add the `pricing` subcommand."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "pricing",
        help="show the price Stratum meters a model at, or --check the models used in your code",
        description=(
            "Prices come from the genai-prices snapshot installed with Stratum (no network), "
            "then from stratum.configure(prices=...) overrides."
        ),
    )
    parser.add_argument("model", nargs="?", help="a model string, e.g. openai:gpt-4o-2024-08-06")
    parser.add_argument(
        "--check",
        nargs="*",
        metavar="PATH",
        help="scan Python files (default: .) for @infer(model=...) and configure(default_model=...) "
        "strings and list those with no price; exit 1 if any, 2 on a missing path or a file that does not parse",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.check is not None:
        return _check([Path(p) for p in (args.check or ["."])])
    if not args.model:
        print("stratum pricing: give a model string (e.g. openai:gpt-4o) or --check [PATH...]", file=sys.stderr)
        return 2
    return _show(args.model)


def _fmt(value: object) -> str:
    return "-" if value is None else f"${value}"


def _show(model: str) -> int:
    from stratum._runtime.config import current_settings
    from stratum._util.model_strings import is_local
    from stratum.exceptions import ConfigurationError
    from stratum.pricing._catalog import CatalogPrice, snapshot_info
    from stratum.pricing._resolve import price_of

    try:
        price = price_of(model)  # the same parsing and lookup as @infer(model=...)
    except ConfigurationError as exc:
        print(f"stratum pricing: {exc}", file=sys.stderr)
        return 2
    if price is None:
        print(
            f"{model}: no price known. Set one with stratum.configure(prices={{{model!r}: "
            "Price(input_per_mtok=..., output_per_mtok=...)}) (or 'provider:*' for a whole provider)"
        )
        return 1
    print(f"model          {model}")
    print(f"input          {_fmt(price.input_per_mtok)} / MTok")
    print(f"output         {_fmt(price.output_per_mtok)} / MTok")
    print(f"cached input   {_fmt(price.cached_input_per_mtok)} / MTok")
    print(f"cache write    {_fmt(price.cache_write_per_mtok)} / MTok")
    if isinstance(price, CatalogPrice):
        info = snapshot_info()
        print(f"source         {info.package} {info.version} bundled snapshot, row {price.provider_id}:{price.model_id}")
        print(
            f"snapshot date  newest price change in effect {info.newest_in_effect}"
            f" (latest scheduled {info.newest_scheduled})"
        )
        if price.tiered:
            print("tiers          yes: rates rise above a prompt size; costs use the exact tier,")
            print(f"               reservations the dearest applicable (up to {_fmt(price.max_input_per_mtok)} / MTok input)")
        if price.request_fee:
            print(f"request fee    {_fmt(price.request_fee)} per request")
    else:
        prices = current_settings().prices
        provider = model.partition(":")[0]
        key = model if model in prices else f"{provider}:*"
        if key not in prices and is_local(provider):
            print(f"source         a local server: free unless priced with configure(prices={{{key!r}: ...}})")
        else:
            print(f"source         stratum.configure(prices={{{key!r}: ...}})")
    return 0


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _callee(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def find_model_strings(tree: ast.AST) -> tuple[list[tuple[str, int]], set[str]]:
    """Model strings used in `tree` (with line numbers) and price keys it configures.

    Looks at `infer(model="...")` (as a decorator or call) and `configure(default_model="...")`;
    keys of a literal `configure(prices={...})` dict count as priced.
    """
    used: list[tuple[str, int]] = []
    priced: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _callee(node)
        for kw in node.keywords:
            if name == "infer" and kw.arg == "model" or name == "configure" and kw.arg == "default_model":
                value = _literal(kw.value)
                if value is not None and ":" in value:
                    used.append((value, node.lineno))
            if name == "configure" and kw.arg == "prices" and isinstance(kw.value, ast.Dict):
                priced.update(k for k in map(_literal, kw.value.keys) if k is not None)
    return used, priced


def _python_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_file() and path.suffix == ".py":
            yield path
        elif path.is_dir():
            for found in sorted(path.rglob("*.py")):
                if not _SKIP_DIRS.intersection(found.relative_to(path).parts):
                    yield found


def _check(paths: list[Path]) -> int:
    from stratum.pricing._resolve import price_of

    missing_paths = [p for p in paths if not p.exists()]
    if missing_paths:
        for path in missing_paths:
            print(f"stratum pricing: {path}: no such file or directory; pass existing files or directories", file=sys.stderr)
        return 2
    uses: dict[str, list[str]] = {}
    configured: set[str] = set()
    unreadable: list[str] = []
    for file in _python_files(paths):
        try:
            tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError) as exc:
            problem = "cannot read" if isinstance(exc, OSError | UnicodeDecodeError) else "does not parse"
            unreadable.append(f"{file}: {problem} ({type(exc).__name__})")
            continue
        used, priced = find_model_strings(tree)
        configured |= priced
        for model, line in used:
            uses.setdefault(model, []).append(f"{file}:{line}")
    missing = {
        model: where
        for model, where in uses.items()
        if model not in configured and f"{model.partition(':')[0]}:*" not in configured and price_of(model) is None
    }
    print(f"{len(uses)} model string(s) found, {len(uses) - len(missing)} priced, {len(missing)} without a price")
    for note in unreadable:
        print(f"stratum pricing: skipped {note}", file=sys.stderr)
    for model, where in sorted(missing.items()):
        print(f"  {model}  ({', '.join(where)})")
    if missing:
        print(
            "Set the missing ones with stratum.configure(prices={'provider:model': Price(input_per_mtok=..., "
            "output_per_mtok=...)}), or 'provider:*' to price a whole provider"
        )
        return 1
    if unreadable:
        # Model strings in a file that could not be read were not checked: not a pass.
        return 2
    return 0
