"""The README's quickstart runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import stratum.trace

ROOT = Path(__file__).resolve().parents[2]


def test_readme_quickstart_runs(capsys: object) -> None:
    text = (ROOT / "README.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    namespace: dict[str, object] = {"__name__": "readme"}
    exec(compile(snippet, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    records = stratum.trace.records()
    assert records[-1].attempts == 2 and records[-1].status == "ok"
