"""`stratum mcp install|uninstall`: merge, idempotence, exact round trips."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stratum.cli import main
from stratum.mcp import install, uninstall
from stratum.mcp._install import BEGIN, END

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_install_into_an_empty_project_and_back(tmp_path: Path) -> None:
    assert len(install(tmp_path)) == 4
    servers = json.loads((tmp_path / ".mcp.json").read_text())["mcpServers"]
    assert servers["stratum"] == {"type": "stdio", "command": sys.executable, "args": ["-m", "stratum.mcp"]}
    claude_md = (tmp_path / "CLAUDE.md").read_text()
    assert claude_md.startswith(BEGIN) and claude_md.rstrip().endswith(END)
    skill = (tmp_path / ".claude/skills/stratum-plan/SKILL.md").read_text()
    assert skill.startswith("---\nname: stratum-plan\n")
    hooks = json.loads((tmp_path / ".claude/settings.json").read_text())["hooks"]["PostToolUse"]
    assert hooks[0]["matcher"] == "Edit|Write|MultiEdit"
    assert hooks[0]["hooks"][0]["command"].endswith("-m stratum.cli lint --hook")
    assert install(tmp_path) == []  # idempotent
    uninstall(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_round_trip_keeps_user_content_byte_for_byte(tmp_path: Path) -> None:
    (tmp_path / ".mcp.json").write_text('{\n    "mcpServers": {"db": {"command": "pg-mcp"}},\n    "x": 1\n}')
    (tmp_path / "CLAUDE.md").write_text("# Team rules\n\nUse tabs.\n")
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude/settings.json").write_text('{"hooks": {"PostToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "echo hi"}]}]}, "model": "opus"}')
    before = _snapshot(tmp_path)
    install(tmp_path)
    merged = json.loads((tmp_path / ".mcp.json").read_text())
    assert set(merged["mcpServers"]) == {"db", "stratum"} and merged["x"] == 1
    settings = json.loads((tmp_path / ".claude/settings.json").read_text())
    assert [g["matcher"] for g in settings["hooks"]["PostToolUse"]] == ["Bash", "Edit|Write|MultiEdit"]
    assert (tmp_path / "CLAUDE.md").read_text().startswith("# Team rules\n\nUse tabs.\n")
    install(tmp_path)
    uninstall(tmp_path)
    assert _snapshot(tmp_path) == before


def test_uninstall_keeps_edits_made_after_install(tmp_path: Path) -> None:
    install(tmp_path)
    data = json.loads((tmp_path / ".mcp.json").read_text())
    data["mcpServers"]["mine"] = {"command": "other"}
    (tmp_path / ".mcp.json").write_text(json.dumps(data))
    with (tmp_path / "CLAUDE.md").open("a") as f:
        f.write("\nMy own note.\n")
    uninstall(tmp_path)
    assert json.loads((tmp_path / ".mcp.json").read_text()) == {"mcpServers": {"mine": {"command": "other"}}}
    text = (tmp_path / "CLAUDE.md").read_text()
    assert BEGIN not in text and "My own note." in text


def test_cli_install_uninstall(tmp_path: Path, capsys: object) -> None:
    assert main(["mcp", "install", "--dir", str(tmp_path)]) == 0
    assert main(["mcp", "install", "--dir", str(tmp_path)]) == 0
    assert main(["mcp", "uninstall", "--dir", str(tmp_path)]) == 0
    assert list(tmp_path.iterdir()) == []


def test_invalid_existing_json_is_reported_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / ".mcp.json").write_text("{not json")
    assert main(["mcp", "install", "--dir", str(tmp_path)]) == 1
    assert (tmp_path / ".mcp.json").read_text() == "{not json"


def test_the_installed_hook_command_lints_the_edited_file(tmp_path: Path) -> None:
    install(tmp_path)
    command = json.loads((tmp_path / ".claude/settings.json").read_text())["hooks"]["PostToolUse"][0]["hooks"][0]["command"]
    bad = tmp_path / "bad.py"
    bad.write_text("import openai\nopenai.chat.completions.create(model='gpt-4o', messages=[])\n")
    payload = json.dumps({"hook_event_name": "PostToolUse", "tool_name": "Write", "tool_input": {"file_path": str(bad)}})
    proc = subprocess.run(command, shell=True, input=payload, capture_output=True, text=True, env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2
    assert f"{bad}:2:1 STR001" in proc.stderr
