"""Every python snippet in docs/testing.md runs (the first one is the `support` module)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "testing.md").read_text(), re.S)


def test_the_guide_has_a_snippet_per_technique() -> None:
    text = "\n".join(BLOCKS)
    for tool in ("stub(", "ScriptedModel(", "faults.", "SchemaModel(", "cassette(", "block_network()"):
        assert tool in text


@pytest.mark.parametrize("index", range(1, len(BLOCKS)))
def test_snippet_runs(index: int, tmp_path: Path) -> None:
    (tmp_path / "support.py").write_text(BLOCKS[0])
    (tmp_path / "snippet.py").write_text(BLOCKS[index])
    env = {"PYTHONPATH": f"{ROOT / 'src'}:{tmp_path}", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-W", "error", "snippet.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
