"""`stratum lint`: flag LLM calls made outside Stratum and hand-written retry loops around them.

Codes: STR001 (provider SDK call), STR002 (raw HTTP POST to a provider endpoint), STR003
(hand-written retry around an LLM call). Suppress one line with `# stratum: ignore[STR001]`.
"""

from __future__ import annotations

from stratum.lint._rules import CODES as CODES
from stratum.lint._rules import Finding as Finding
from stratum.lint._rules import check_source as check_source
from stratum.lint._run import LintReport as LintReport
from stratum.lint._run import hook_paths as hook_paths
from stratum.lint._run import iter_python_files as iter_python_files
from stratum.lint._run import lint_paths as lint_paths

__all__ = ("CODES", "Finding", "LintReport", "check_source", "hook_paths", "iter_python_files", "lint_paths")
