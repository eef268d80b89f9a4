"""Run the rules over paths, and the Claude Code hook mode."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from stratum.lint._rules import Finding, check_source

__all__ = ("LintReport", "hook_paths", "iter_python_files", "lint_paths")

_SKIP_DIRS = frozenset({
    ".git", ".hg", ".venv", "venv", "env", "node_modules", "__pycache__", "site-packages", "build", "dist",
    ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".stratum",
})


@dataclass(slots=True)
class LintReport:
    """Findings over a set of files, plus the files that could not be read or parsed."""

    findings: list[Finding] = field(default_factory=lambda: list[Finding]())
    files: int = 0
    skipped: list[str] = field(default_factory=lambda: list[str]())


def iter_python_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Every `.py` file under `paths` (files given directly are kept whatever their suffix)."""
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
                for name in sorted(files):
                    if name.endswith(".py"):
                        yield Path(root) / name
        else:
            yield path


def lint_paths(paths: Sequence[Path]) -> LintReport:
    """Lint every Python file under `paths`."""
    report = LintReport()
    for file in iter_python_files(paths):
        try:
            source = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            report.skipped.append(f"{file}: cannot read ({type(exc).__name__})")
            continue
        report.files += 1
        try:
            report.findings.extend(check_source(source, str(file)))
        except (SyntaxError, ValueError, RecursionError) as exc:
            report.skipped.append(f"{file}: does not parse ({type(exc).__name__})")
    return report


def hook_paths(payload: str) -> list[Path]:
    """The edited Python file named by a Claude Code PostToolUse hook payload (JSON on stdin)."""
    try:
        data = json.loads(payload)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    tool_input = cast(dict[str, Any], data).get("tool_input")
    if not isinstance(tool_input, dict):
        return []
    file_path = cast(dict[str, Any], tool_input).get("file_path")
    if not isinstance(file_path, str) or not file_path.endswith(".py"):
        return []
    path = Path(file_path)
    cwd = cast(dict[str, Any], data).get("cwd")
    if not path.is_absolute() and isinstance(cwd, str):
        path = Path(cwd) / path
    return [path] if path.is_file() else []
