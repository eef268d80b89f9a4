"""`stratum mcp install|uninstall`: wire Stratum into a Claude Code project, reversibly.

Install merges into what is there (never clobbers): the `stratum` server in `.mcp.json`, a
marked rules block in `CLAUDE.md`, the `stratum-plan` skill, a PostToolUse hook in
`.claude/settings.json` that lints edited Python files, and `.stratum/` in `.gitignore`. With
`clients=("codex",)` it writes Codex's project config (`.codex/config.toml`) and an `AGENTS.md`
rules block instead. What it changed, and the bytes of each file before, go to
`.stratum/install.json`, so uninstall restores the files byte for byte when nobody edited them
since, and otherwise removes only Stratum's entries.

Nothing machine-specific goes into files a team commits: commands are `stratum` on PATH,
written as `${STRATUM_BIN:-stratum}` (Claude Code expands it in `.mcp.json`, the shell expands
it in the hook), so a teammate with Stratum in a venv sets `STRATUM_BIN` once.
Standard library only: uninstall works without the `mcp` extra.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

__all__ = ("BEGIN", "END", "install", "uninstall")

BEGIN = "<!-- stratum:begin -->"
"""Opening marker of the CLAUDE.md block."""
END = "<!-- stratum:end -->"
"""Closing marker of the CLAUDE.md block."""
SERVER_NAME = "stratum"
"""The server's key in `.mcp.json`."""
_MANIFEST = Path(".stratum") / "install.json"
_SKILL = Path(".claude") / "skills" / "stratum-plan" / "SKILL.md"
_SETTINGS = Path(".claude") / "settings.json"
_MCP_JSON = Path(".mcp.json")
_CLAUDE_MD = Path("CLAUDE.md")
_AGENTS_MD = Path("AGENTS.md")
_CODEX = Path(".codex") / "config.toml"
_GITIGNORE = Path(".gitignore")
_IGNORE_LINE = ".stratum/"
COMMAND = "${STRATUM_BIN:-stratum}"
"""The command in committed files: `stratum` on PATH unless `$STRATUM_BIN` names another."""
TOML_BEGIN = "# stratum:begin"
TOML_END = "# stratum:end"
CODEX_BLOCK = f"""{TOML_BEGIN}
[mcp_servers.stratum]
command = "stratum"
args = ["mcp", "serve"]
{TOML_END}
"""
_BLOCK_RE = re.compile(r"(\n*)" + re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.DOTALL)

RULES = f"""{BEGIN}
## Stratum (execution runtime for this project)

- For any non-trivial task (more than one file or more than one step), use the `stratum-plan`
  skill: write a typed plan, `stratum_validate` it, submit it with `stratum_plan`, get the user's
  approval, then report every step with `stratum_step_done`. Do not start editing before approval.
- When `stratum_step_done` returns `retry`, fix only what its `violations` name. Do not re-read
  files you already read to re-establish context.
- Follow budget signals: at `checkpoint`, write down what is done; at `handoff`, call
  `stratum_handoff` and stop. `budget_exhausted` means stop and give the user the brief.
- End with `stratum_audit` and show the user its rendered table.
- Code that calls an LLM uses Stratum (`@infer` with a `@contract` return, `ensure`, `retries`,
  `Budget`), never a raw provider SDK call or a hand-written retry loop; `stratum lint` flags them.
{END}
"""

SKILL = """---
name: stratum-plan
description: Plan, approve, execute and audit a non-trivial coding task through the Stratum MCP server. Use it first for any task touching more than one file or needing more than one step.
---

# Stratum plan: plan → approve → step_done → audit

1. **Plan.** Write the task as a JSON plan: `steps` with `id`, `intent` (or `fn`), `output` (a JSON
   Schema or a name in the plan's `contracts`), `depends_on`, `ensure` (expressions over `result`,
   e.g. `"result.passed == result.total"`, `"len(result.files) > 0"`), `retries`; and a plan
   `budget` (`tool_calls`, `tokens`, `minutes`, `usd`). Make each output small and checkable:
   counts, paths, test totals — not file contents.
2. **Validate.** Call `stratum_validate(plan)`; fix every error it lists in one pass.
3. **Submit.** Call `stratum_plan(plan)`. If the user was asked directly, the answer is in the
   response. Otherwise show them `rendered` and wait; call `stratum_approve(plan_id, approved_by)`
   only after they say yes.
4. **Execute.** Run each step in `ready` with your own tools. Report it with
   `stratum_step_done(plan_id, step_id, result, usage)` where usage is
   `{"input_tokens", "output_tokens", "tool_calls"}` as best you know them.
   - `next`: run the new `ready` steps (independent ones may run together).
   - `retry`: fix only what `violations` name; report the same step again. With
     `format_slip`, only the shape was wrong: send the `expected` shape (no retry spent).
   - `reopened`: a later step failed because of an earlier one; that step is back in `ready`
     with `retry_context` (the failure and its reason). Fix it, report it, re-run what follows.
     When a step fails, pass `reason` (the failure in your words): the audit shows it.
   - A `mode: "gate"` step waits for the user: ask them, then call `stratum_gate_resolve`
     with their decision (or they run `stratum mcp gate PLAN STEP approve|revise|kill`).
   - `failed`: stop and tell the user what failed.
   - `budget_exhausted`: stop; ask the user for more with `stratum_budget_extend`, or give
     them the `handoff` brief.
   - A `budget.signals` entry with `checkpoint` or `handoff`: checkpoint, or call
     `stratum_handoff` and continue in a fresh context with `stratum_resume`.
5. **Audit.** Call `stratum_audit(plan_id)` and show the user the `rendered` table.

After a restart, `stratum_list` shows the plans and `stratum_resume(plan_id)` picks one up.
"""


def server_entry() -> dict[str, Any]:
    """The `.mcp.json` entry for the server (no absolute path: it is committed and shared)."""
    return {"type": "stdio", "command": COMMAND, "args": ["mcp", "serve"]}


def hook_group() -> dict[str, Any]:
    """The PostToolUse hook group that lints edited Python files."""
    command = f'"{COMMAND}" lint --hook'
    return {"matcher": "Edit|Write|MultiEdit", "hooks": [{"type": "command", "command": command}]}


def install(directory: Path, *, clients: Sequence[str] = ("claude",)) -> list[str]:
    """Install into the project at `directory`; returns what changed (empty when already installed)."""
    unknown = [c for c in clients if c not in ("claude", "codex")]
    if unknown:
        raise ValueError(f"unknown client(s) {', '.join(unknown)}; choose claude or codex")
    root = directory.resolve()
    manifest = _load_manifest(root)
    changes: list[str] = []
    targets = (_MCP_JSON, _SETTINGS, _CLAUDE_MD, _SKILL, _MANIFEST, _CODEX)
    missing = {d for target in targets for d in _missing_dirs(root, (root / target).parent)}
    if "codex" in clients:
        _install_codex(root, manifest, changes)
    _ignore_store(root, manifest, changes)
    if "claude" not in clients:
        if changes:
            manifest.setdefault("_dirs_created", sorted(str(d.relative_to(root)) for d in missing))
            _write(root / _MANIFEST, json.dumps(manifest, indent=2) + "\n")
        return changes

    def edit_json(rel: Path, change: Callable[[dict[str, Any]], bool], label: str) -> None:
        path = root / rel
        original = path.read_text(encoding="utf-8") if path.exists() else None
        data = _parse_object(original, path)
        if change(data):
            manifest.setdefault(str(rel), {"original": original})
            _write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            changes.append(label)

    def add_server(data: dict[str, Any]) -> bool:
        servers = data.setdefault("mcpServers", {})
        if not isinstance(servers, dict):
            raise ValueError(f"{root / _MCP_JSON}: `mcpServers` is not an object; fix the file and run again")
        servers_d = cast(dict[str, Any], servers)
        if servers_d.get(SERVER_NAME) == server_entry():
            return False
        servers_d[SERVER_NAME] = server_entry()
        return True

    def add_hook(data: dict[str, Any]) -> bool:
        hooks = data.setdefault("hooks", {})
        if not isinstance(hooks, dict):
            raise ValueError(f"{root / _SETTINGS}: `hooks` is not an object; fix the file and run again")
        post = cast(dict[str, Any], hooks).setdefault("PostToolUse", [])
        if not isinstance(post, list):
            raise ValueError(f"{root / _SETTINGS}: `hooks.PostToolUse` is not a list; fix the file and run again")
        groups = cast(list[Any], post)
        if hook_group() in groups:
            return False
        groups[:] = [g for g in groups if not _is_our_hook(g)]  # an older install's command
        groups.append(hook_group())
        return True

    edit_json(_MCP_JSON, add_server, f"{_MCP_JSON}: added the `stratum` server")
    edit_json(_SETTINGS, add_hook, f"{_SETTINGS}: added the PostToolUse lint hook")

    md = root / _CLAUDE_MD
    text = md.read_text(encoding="utf-8") if md.exists() else None
    if text is None or BEGIN not in text:
        manifest.setdefault(str(_CLAUDE_MD), {"original": text})
        sep = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
        _write(md, (text or "") + sep + RULES)
        changes.append(f"{_CLAUDE_MD}: added the Stratum rules block")
    else:
        updated = _BLOCK_RE.sub(lambda m: m.group(1) + RULES, text, count=1)
        if updated != text:
            _write(md, updated)
            changes.append(f"{_CLAUDE_MD}: updated the Stratum rules block")

    skill = root / _SKILL
    current = skill.read_text(encoding="utf-8") if skill.exists() else None
    if current != SKILL:
        manifest.setdefault(str(_SKILL), {"original": current})
        _write(skill, SKILL)
        changes.append(f"{_SKILL}: installed the stratum-plan skill")

    if changes:
        manifest.setdefault("_dirs_created", sorted(str(d.relative_to(root)) for d in missing))
        _write(root / _MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return changes


def _ignore_store(root: Path, manifest: dict[str, Any], changes: list[str]) -> None:
    path = root / _GITIGNORE
    text = path.read_text(encoding="utf-8") if path.exists() else None
    lines = (text or "").splitlines()
    if any(line.strip() in (_IGNORE_LINE, ".stratum", "/.stratum/", "/.stratum") for line in lines):
        return
    manifest.setdefault(str(_GITIGNORE), {"original": text})
    sep = "" if not text or text.endswith("\n") else "\n"
    _write(path, (text or "") + sep + _IGNORE_LINE + "\n")
    changes.append(f"{_GITIGNORE}: ignored {_IGNORE_LINE} (the local plan store)")


def _install_codex(root: Path, manifest: dict[str, Any], changes: list[str]) -> None:
    path = root / _CODEX
    text = path.read_text(encoding="utf-8") if path.exists() else None
    if text is not None and TOML_BEGIN in text:
        pass
    else:
        if text is not None:
            try:
                existing = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{path} is not valid TOML ({exc}); fix it, then run the command again") from None
            if "stratum" in cast(dict[str, Any], existing.get("mcp_servers", {})):
                raise ValueError(f"{path} already defines [mcp_servers.stratum]; remove it, then run the command again")
        manifest.setdefault(str(_CODEX), {"original": text})
        sep = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
        _write(path, (text or "") + sep + CODEX_BLOCK)
        changes.append(f"{_CODEX}: added the `stratum` MCP server for Codex")
    md = root / _AGENTS_MD
    current = md.read_text(encoding="utf-8") if md.exists() else None
    if current is None or BEGIN not in current:
        manifest.setdefault(str(_AGENTS_MD), {"original": current})
        sep = "" if not current else ("\n" if current.endswith("\n") else "\n\n")
        _write(md, (current or "") + sep + RULES)
        changes.append(f"{_AGENTS_MD}: added the Stratum rules block")


def _strip_block(path: Path, begin: str, end: str, manifest: dict[str, Any], rel: Path) -> bool:
    if not path.exists():
        return False
    text = path.read_text(encoding="utf-8")
    if begin not in text:
        return False
    pattern = re.compile(r"(\n*)" + re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    record = cast("dict[str, Any] | None", manifest.get(str(rel)))
    before = None if record is None else cast("str | None", record.get("original"))
    stripped = pattern.sub("", text, count=1)
    if record is not None and before is None and not stripped.strip():
        path.unlink()
    elif before is not None and stripped.rstrip("\n") == before.rstrip("\n"):
        path.write_text(before, encoding="utf-8")
    else:
        path.write_text(stripped if stripped.strip() else "", encoding="utf-8")
    return True


def uninstall(directory: Path, *, clients: Sequence[str] = ("claude", "codex")) -> list[str]:
    """Remove exactly what `install` added; returns what changed."""
    del clients  # uninstall removes every client's entries: what is not there is skipped
    root = directory.resolve()
    manifest = _load_manifest(root)
    changes: list[str] = []
    if _strip_block(root / _CODEX, TOML_BEGIN, TOML_END, manifest, _CODEX):
        changes.append(f"{_CODEX}: removed the `stratum` MCP server")
    if _strip_block(root / _AGENTS_MD, BEGIN, END, manifest, _AGENTS_MD):
        changes.append(f"{_AGENTS_MD}: removed the Stratum rules block")
    ignore = root / _GITIGNORE
    record = cast("dict[str, Any] | None", manifest.get(str(_GITIGNORE)))
    if record is not None and ignore.exists():
        lines = ignore.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if line.strip() != _IGNORE_LINE]
        if len(kept) != len(lines):
            before = cast("str | None", record.get("original"))
            if before is None and not "".join(kept).strip():
                ignore.unlink()
            elif before is not None and "".join(kept).rstrip("\n") == before.rstrip("\n"):
                ignore.write_text(before, encoding="utf-8")
            else:
                ignore.write_text("".join(kept), encoding="utf-8")
            changes.append(f"{_GITIGNORE}: removed {_IGNORE_LINE}")

    def restore_json(rel: Path, strip: Callable[[dict[str, Any]], bool], label: str) -> None:
        path = root / rel
        if not path.exists():
            return
        data = _parse_object(path.read_text(encoding="utf-8"), path)
        if not strip(data):
            return
        original = cast("dict[str, Any] | None", manifest.get(str(rel)))
        before = None if original is None else cast("str | None", original.get("original"))
        if original is not None and before is None and _is_empty(data):
            path.unlink()  # install created this file and nothing else is in it
        elif before is not None and _same_json(before, data):
            path.write_text(before, encoding="utf-8")  # byte-exact round trip
        else:
            path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        changes.append(label)

    def strip_server(data: dict[str, Any]) -> bool:
        servers = data.get("mcpServers")
        if not isinstance(servers, dict) or SERVER_NAME not in servers:
            return False
        del cast(dict[str, Any], servers)[SERVER_NAME]
        if not servers:
            del data["mcpServers"]
        return True

    def strip_hook(data: dict[str, Any]) -> bool:
        hooks = data.get("hooks")
        if not isinstance(hooks, dict):
            return False
        hooks_d = cast(dict[str, Any], hooks)
        post = hooks_d.get("PostToolUse")
        if not isinstance(post, list):
            return False
        groups = cast(list[Any], post)
        kept = [g for g in groups if not _is_our_hook(g)]
        if len(kept) == len(groups):
            return False
        if kept:
            hooks_d["PostToolUse"] = kept
        else:
            del hooks_d["PostToolUse"]
            if not hooks_d:
                del data["hooks"]
        return True

    restore_json(_MCP_JSON, strip_server, f"{_MCP_JSON}: removed the `stratum` server")
    restore_json(_SETTINGS, strip_hook, f"{_SETTINGS}: removed the lint hook")

    md = root / _CLAUDE_MD
    if md.exists():
        text = md.read_text(encoding="utf-8")
        if BEGIN in text:
            record = cast("dict[str, Any] | None", manifest.get(str(_CLAUDE_MD)))
            before = None if record is None else cast("str | None", record.get("original"))
            stripped = _BLOCK_RE.sub("", text, count=1)
            if record is not None and before is None and not stripped.strip():
                md.unlink()
            elif before is not None and stripped.rstrip("\n") == before.rstrip("\n"):
                md.write_text(before, encoding="utf-8")
            else:
                md.write_text(stripped if stripped.strip() else "", encoding="utf-8")
            changes.append(f"{_CLAUDE_MD}: removed the Stratum rules block")

    skill = root / _SKILL
    if skill.exists() and skill.read_text(encoding="utf-8") == SKILL:
        record = cast("dict[str, Any] | None", manifest.get(str(_SKILL)))
        before = None if record is None else cast("str | None", record.get("original"))
        if before is not None:
            skill.write_text(before, encoding="utf-8")
        else:
            skill.unlink()
        changes.append(f"{_SKILL}: removed the stratum-plan skill")

    manifest_path = root / _MANIFEST
    if manifest_path.exists():
        manifest_path.unlink()
    # Directories install created go too, deepest first, when nothing else lives in them.
    created = cast(list[str], manifest.get("_dirs_created", [str(_SKILL.parent)]))
    for rel in sorted(created, key=lambda d: -len(Path(d).parts)):
        directory = root / rel
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    return changes


# -- helpers ----------------------------------------------------------------------------------


def _is_our_hook(group: Any) -> bool:
    if not isinstance(group, dict):
        return False
    hooks = cast(dict[str, Any], group).get("hooks")
    if not isinstance(hooks, list):
        return False
    return any(
        isinstance(h, dict) and re.search(r"stratum(\.cli|\S*\}?\"?) lint --hook", str(cast(dict[str, Any], h).get("command", ""))) is not None
        for h in cast(list[Any], hooks)
    )


def _parse_object(text: str | None, path: Path) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix it, then run the command again") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object; fix it, then run the command again")
    return cast(dict[str, Any], data)


def _same_json(text: str, data: dict[str, Any]) -> bool:
    try:
        return bool(json.loads(text) == data) if text.strip() else not data
    except ValueError:
        return False


def _is_empty(data: dict[str, Any]) -> bool:
    return not data


def _load_manifest(root: Path) -> dict[str, Any]:
    path = root / _MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {}
    return cast(dict[str, Any], data) if isinstance(data, dict) else {}


def _missing_dirs(root: Path, directory: Path) -> list[Path]:
    out: list[Path] = []
    while directory != root and not directory.exists():
        out.append(directory)
        directory = directory.parent
    return out


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
