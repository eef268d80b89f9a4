"""`stratum mcp install|uninstall`: merge, idempotence, exact round trips."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from stratum.cli import main
from stratum.mcp import install, uninstall
from stratum.mcp._install import BEGIN, END

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_install_into_an_empty_project_and_back(tmp_path: Path) -> None:
    assert len(install(tmp_path)) == 5
    servers = json.loads((tmp_path / ".mcp.json").read_text())["mcpServers"]
    assert servers["stratum"] == {"type": "stdio", "command": "${STRATUM_BIN:-stratum}", "args": ["mcp", "serve"]}
    assert (tmp_path / ".gitignore").read_text() == ".stratum/\n"
    claude_md = (tmp_path / "CLAUDE.md").read_text()
    assert claude_md.startswith(BEGIN) and claude_md.rstrip().endswith(END)
    skill = (tmp_path / ".claude/skills/stratum-plan/SKILL.md").read_text()
    assert skill.startswith("---\nname: stratum-plan\n")
    hooks = json.loads((tmp_path / ".claude/settings.json").read_text())["hooks"]["PostToolUse"]
    assert hooks[0]["matcher"] == "Edit|Write|MultiEdit"
    assert hooks[0]["hooks"][0]["command"] == '"${STRATUM_BIN:-stratum}" lint --hook'
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
    # A teammate whose stratum lives in a venv sets STRATUM_BIN; nothing in the file names this machine.
    shim = tmp_path / "bin" / "stratum"
    shim.parent.mkdir()
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m stratum.cli \"$@\"\n")
    shim.chmod(0o755)
    env = {"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(command, shell=True, input=payload, capture_output=True, text=True, env={**env, "STRATUM_BIN": str(shim)})
    assert proc.returncode == 2
    assert f"{bad}:2:1 STR001" in proc.stderr
    on_path = subprocess.run(command, shell=True, input=payload, capture_output=True, text=True, env={**env, "PATH": f"{shim.parent}:/usr/bin:/bin"})
    assert on_path.returncode == 2 and "STR001" in on_path.stderr


def test_committed_files_hold_nothing_machine_specific(tmp_path: Path) -> None:
    install(tmp_path, clients=("claude", "codex"))
    for rel in (".mcp.json", ".claude/settings.json", ".codex/config.toml", "CLAUDE.md", "AGENTS.md", ".claude/skills/stratum-plan/SKILL.md"):
        text = (tmp_path / rel).read_text()
        for local in (str(tmp_path), sys.executable, sys.prefix, os.path.expanduser("~")):
            assert local not in text, (rel, local)
    codex = tomllib.loads((tmp_path / ".codex/config.toml").read_text())
    assert codex["mcp_servers"]["stratum"] == {"command": "stratum", "args": ["mcp", "serve"]}
    assert ".stratum/" in (tmp_path / ".gitignore").read_text().splitlines()
    uninstall(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_codex_config_is_merged_and_restored(tmp_path: Path) -> None:
    (tmp_path / ".codex").mkdir()
    original = 'model = "o3"\n\n[mcp_servers.db]\ncommand = "pg-mcp"\n'
    (tmp_path / ".codex/config.toml").write_text(original)
    (tmp_path / ".gitignore").write_text("node_modules\n")
    assert main(["mcp", "install", "--client", "codex", "--dir", str(tmp_path)]) == 0
    merged = tomllib.loads((tmp_path / ".codex/config.toml").read_text())
    assert set(merged["mcp_servers"]) == {"db", "stratum"} and merged["model"] == "o3"
    assert not (tmp_path / ".mcp.json").exists()
    uninstall(tmp_path)
    assert (tmp_path / ".codex/config.toml").read_text() == original
    assert (tmp_path / ".gitignore").read_text() == "node_modules\n"
