"""`examples/enterprise_accounts.py` and `examples/fallback_chain.py` run offline as the providers guide says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_enterprise_accounts_example_runs(tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "examples" / "enterprise_accounts.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["azure:gpt-4.1-mini", "bedrock:amazon.nova-micro-v1:0", "vertex:gemini-2.5-flash"]
    assert all("-> Paris" in line for line in lines)


def test_fallback_chain_example_runs(tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "examples" / "fallback_chain.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "city='Paris'" in proc.stdout
    assert "models tried: openai:gpt-4.1-mini, anthropic:claude-haiku-4-5" in proc.stdout
