"""The `stratum` command never passes wrongly: missing paths, unparsable files, nonsense flags."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

import stratum
from stratum.cli import main

from trace_flows import run_triage


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"stratum {stratum.__version__}"


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_audit_last_must_be_positive(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["audit", "--last", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--last" in err and ("1 or more" in err or "whole number" in err)


def test_lint_missing_path_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(tmp_path / "nope.py")]) == 2
    assert "nope.py: no such file or directory" in capsys.readouterr().err


def test_lint_unparsable_file_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def broken(:\n    pass\n")
    (tmp_path / "good.py").write_text("x = 1\n")
    assert main(["lint", str(tmp_path)]) == 2
    assert "bad.py: does not parse" in capsys.readouterr().err
    assert main(["lint", str(tmp_path / "good.py")]) == 0


def test_pricing_check_missing_path_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pricing", "--check", str(tmp_path / "nope")]) == 2
    assert "nope: no such file or directory" in capsys.readouterr().err


def test_pricing_check_unparsable_file_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.py").write_text("@infer(model='openai:gpt-4o'\ndef f(: ...\n")
    (tmp_path / "good.py").write_text("from stratum import infer\n@infer('x', model='openai:gpt-4o')\ndef f() -> str: ...\n")
    assert main(["pricing", "--check", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "1 model string(s) found, 1 priced" in captured.out
    assert "bad.py: does not parse (SyntaxError)" in captured.err
    assert main(["pricing", "--check", str(tmp_path / "good.py")]) == 0


@pytest.mark.anyio
async def test_audit_wording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Attempts count from 1, one is "1 attempt", a step with no model call shows "-"."""
    from stratum import compute, flow
    from stratum.testing import Reply, ScriptedModel, use_model
    from trace_flows import summarize

    @compute
    def shout(text: str) -> str:
        return text.upper()

    @flow
    async def once(text: str) -> str:
        return shout(await summarize(text=text, label="positive"))

    with use_model(ScriptedModel([Reply("fine", usage=(10, 2))])):
        await once("x")
    text = stratum.trace.render_audit(stratum.trace.flows(), stratum.trace.records())
    assert "Total: 2 steps, 1 attempt (0 retries)" in text
    compute_row = next(line for line in text.splitlines() if "shout" in line)
    assert compute_row.split()[2:4] == ["ok", "-"]
    md = stratum.trace.render_audit(stratum.trace.flows(), stratum.trace.records(), format="md")
    assert "shout` | ok | - |" in md
    stratum.trace.clear()
    await run_triage()
    text = stratum.trace.render_audit(stratum.trace.flows(), stratum.trace.records())
    assert "attempt 1 failed: ensure" in text and "attempt 0" not in text
    assert "3 attempts (1 retry)" in text


def test_demo_leaves_an_audit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    demo_out = capsys.readouterr().out
    assert "Trace written to .stratum/traces.db" in demo_out
    assert (tmp_path / ".stratum" / "traces.db").is_file()
    assert main(["audit"]) == 0
    audit_out = capsys.readouterr().out
    assert audit_out.count("Flow process_ticket (") == 2
    assert "attempt 1 failed: ensure: r.confidence > 0.7 (actual: r.confidence=0.42)" in audit_out
    # The audit printed by the demo and the one read back agree on every number.
    assert [line for line in demo_out.splitlines() if "Total:" in line] == [
        line for line in audit_out.splitlines() if "Total:" in line
    ]


def test_demo_trace_to_a_jsonl_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "runs" / "demo.jsonl"
    assert main(["demo", "--trace", str(path)]) == 0
    assert f"stratum audit {path} --last 2" in capsys.readouterr().out
    assert main(["audit", str(path), "--format", "json", "--last", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in data["flows"]] == ["process_ticket"]
    assert [s["function"] for s in data["flows"][0]["steps"]] == ["classify_sentiment", "needs_escalation", "draft_response"]


def test_audit_open_writes_the_page_and_opens_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--open` hands a file:// URL of the HTML page to the browser named by $BROWSER."""
    import webbrowser

    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    capsys.readouterr()
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.py"
    browser.write_text(f"import sys, pathlib\npathlib.Path({str(opened)!r}).write_text(sys.argv[1])\n")
    monkeypatch.setenv("BROWSER", f"{sys.executable} {browser} %s")
    monkeypatch.setattr(webbrowser, "_tryorder", None)  # re-read $BROWSER
    monkeypatch.setattr(webbrowser, "_browsers", {})
    target = tmp_path / "audit.html"
    assert main(["audit", "--open", "-o", str(target)]) == 0
    assert opened.read_text() == target.resolve().as_uri()
    page = target.read_text()
    assert page.startswith("<!DOCTYPE html>") and 'class="timeline"' in page
    assert main(["audit", "--open", "--format", "json"]) == 2
    assert "--open shows the HTML page" in capsys.readouterr().err
    assert os.environ["BROWSER"].endswith("%s")
