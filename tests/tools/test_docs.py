"""Every python snippet in docs/tools.md runs as written, offline."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "tools.md").read_text(), re.S)


def test_the_guide_has_a_runnable_example() -> None:
    assert BLOCKS and "tools=[" in BLOCKS[0] and "ToolCall(" in BLOCKS[0]


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_snippet_runs(index: int, tmp_path: Path) -> None:
    (tmp_path / "snippet.py").write_text(BLOCKS[index])
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-W", "error", "snippet.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "└ lookup_order (tool, round 1)" in proc.stdout
