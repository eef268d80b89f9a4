"""Every python snippet in docs/scaling.md runs against a real Redis and the loopback batch fake."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.batch._fake_batches import fake_batches

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "scaling.md").read_text(), re.S)


def positive(kind: str, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"label": "positive"}


def test_the_guide_covers_each_tool() -> None:
    text = "\n".join(BLOCKS)
    for tool in ("ledger=", "RedisLedger(", ".batch(", "progress="):
        assert tool in text


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_snippet_runs(index: int, redis_url: str, tmp_path: Path) -> None:
    (tmp_path / "snippet.py").write_text(BLOCKS[index])
    with fake_batches(positive) as fake:
        env = {
            "PYTHONPATH": str(ROOT / "src"),
            "PATH": "/usr/bin:/bin",
            "REDIS_URL": redis_url,
            "OPENAI_BASE_URL": f"{fake.base}/v1",
            "OPENAI_API_KEY": "sk-test-docs-0000",
        }
        proc = subprocess.run(
            [sys.executable, "-W", "error", "snippet.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
