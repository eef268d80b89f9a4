"""The pytest plugin, run the way users run it: a separate pytest process over a small project.

From a source tree the runs load the plugin with `-p stratum.testing.plugin`; when stratum is
installed, its `pytest11` entry point loads it (that is the path users take).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from _testing_fakes import PLANTED_KEY

SRC = Path(__file__).resolve().parents[2] / "src"
INSTALLED = any(ep.value == "stratum.testing.plugin" for ep in entry_points(group="pytest11"))
"""An installed stratum loads the plugin itself; loading it again with -p would be an error."""
LOAD = () if INSTALLED else ("-p", "stratum.testing.plugin")

COMMON = '''
from typing import Literal
import pytest
import stratum
from stratum import contract, infer
from stratum.testing import ScriptedModel, use_model

@contract
class Label:
    label: Literal["positive", "negative"]

@infer("Classify", model="openai:gpt-4.1-mini", retries=0)
def classify(text: str) -> Label: ...
'''


def run_pytest(tmp_path: Path, files: dict[str, str], *args: str) -> tuple[dict[str, str], str]:
    """Write `files`, run pytest on them, return {test id: outcome} and the output."""
    for name, text in files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{tmp_path}"}
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        env.pop(var, None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *LOAD, "-p", "no:cacheprovider",
         "--strict-markers", "-rA", "-q", "-W", "error", "-o", "asyncio_default_fixture_loop_scope=function", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    outcomes = dict(
        (m.group(2), m.group(1)) for m in re.finditer(r"^(PASSED|FAILED|ERROR|SKIPPED) (\S+)", proc.stdout, re.M)
    )
    return outcomes, proc.stdout + proc.stderr


GUARD_TESTS = COMMON + '''
async def _live():
    stratum.configure(providers={"openai": __import__("stratum").providers.OpenAI(api_key="sk-x-000000000")})
    return await classify(text="hi")

@MARK
async def test_blocked_by_default(ANYIO):
    with pytest.raises(stratum.NetworkBlockedError):
        await _live()

@MARK
@pytest.mark.stratum_allow_network
async def test_opt_out(ANYIO):
    # the request is allowed: it fails further down (no server), not at the guard
    with pytest.raises(stratum.StratumError) as info:
        await _live()
    assert not isinstance(info.value, stratum.NetworkBlockedError)

@MARK
async def test_leaks_configure_and_routing(ANYIO):
    stratum.configure(default_model="leaked:model")
    stratum.trace.records  # noqa
    cm = use_model(ScriptedModel([{"label": "positive"}]))
    cm.__enter__()   # never exited: the plugin must still reset routing
    assert (await classify(text="x")).label == "positive"

@MARK
async def test_nothing_leaked(ANYIO, stratum_records):
    from stratum._runtime.config import current_settings
    assert current_settings().default_model is None
    with pytest.raises(stratum.ConfigurationError, match="OPENAI_API_KEY"):
        await classify(text="x")   # the built-in provider again: no leaked script nor provider
    assert stratum_records and stratum_records[0].status == "failed"

@MARK
async def test_records_fixture_is_live(ANYIO, stratum_records):
    assert stratum_records == []
    with use_model(ScriptedModel([{"label": "negative"}, {"label": "positive"}])):
        await classify(text="a")
        assert len(stratum_records) == 1 and stratum_records[0].output.label == "negative"
        await classify(text="b")
    assert [r.output.label for r in stratum_records] == ["negative", "positive"]
    assert stratum.trace.records() == stratum_records

def test_sync_tests_are_guarded_too():
    from stratum.testing._network import _NetworkGuard
    from stratum._runtime import context as _context
    assert any(isinstance(i, _NetworkGuard) for i in _context.current_interceptors())
'''


@pytest.mark.parametrize(
    "runner, mark, fixture, extra",
    [
        pytest.param("anyio-asyncio", "pytest.mark.anyio", "anyio_backend", "", id="anyio-asyncio"),
        pytest.param("anyio-trio", "pytest.mark.anyio", "anyio_backend", "trio", id="anyio-trio"),
        pytest.param("pytest-asyncio", "pytest.mark.asyncio", "", "", id="pytest-asyncio"),
    ],
)
def test_guard_reset_and_records_under_each_async_runner(
    tmp_path: Path, runner: str, mark: str, fixture: str, extra: str
) -> None:
    source = GUARD_TESTS.replace("@MARK", f"@{mark}").replace("(ANYIO, ", f"({fixture}, " if fixture else "(")
    source = source.replace("(ANYIO)", f"({fixture})" if fixture else "()")
    conftest = ""
    if extra:
        conftest = "import pytest\n@pytest.fixture\ndef anyio_backend():\n    return 'trio'\n"
    outcomes, output = run_pytest(tmp_path, {"test_guard.py": source, "conftest.py": conftest})
    assert outcomes and all(v == "PASSED" for v in outcomes.values()), output
    names = {key.split("::")[1].split("[")[0] for key in outcomes}
    assert len(names) == 6, output


CASSETTE_TESTS = COMMON + f'''
import httpx2
from stratum.providers import OpenAI

def handler(request):
    return httpx2.Response(200, json={{"model": "gpt-4.1-mini-2026", "choices": [{{"message": {{"content": '{{"label": "positive"}}'}}, "finish_reason": "stop"}}],
                                       "usage": {{"prompt_tokens": 5, "completion_tokens": 2}}}})

def fake():
    # a mock transport posing as api.openai.com: the recorded URL is the real one
    return OpenAI(api_key="{PLANTED_KEY}", transport=httpx2.MockTransport(handler))

@pytest.mark.anyio
@pytest.mark.stratum_cassette
async def test_default_path(anyio_backend, stratum_cassette, stratum_records):
    if stratum_cassette.record_mode != "none":
        stratum.configure(providers={{"openai": fake()}})
    assert (await classify(text="great")).label == "positive"
    assert stratum_records[0].output_tokens == 2

@pytest.mark.anyio
@pytest.mark.stratum_cassette("recordings/custom.yaml", record_mode="once")
async def test_custom_path(anyio_backend):
    stratum.configure(providers={{"openai": fake()}})
    assert (await classify(text="fine")).label == "positive"
'''


def test_cassette_marker_records_then_replays_with_a_placeholder_key(tmp_path: Path) -> None:
    files = {"tests/test_app.py": CASSETTE_TESTS, "tests/conftest.py": "import pytest\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n"}
    outcomes, output = run_pytest(tmp_path, files)
    # no cassette yet, CI mode: a readable miss naming the way to record
    assert outcomes["tests/test_app.py::test_default_path"] == "FAILED", output
    assert "does not exist" in output and "--stratum-record-mode=once" in output
    assert outcomes["tests/test_app.py::test_custom_path"] == "PASSED", output
    assert (tmp_path / "tests/recordings/custom.yaml").exists()

    outcomes, output = run_pytest(tmp_path, files, "--stratum-record-mode=once")
    assert set(outcomes.values()) == {"PASSED"}, output
    default = tmp_path / "tests/cassettes/test_app/test_default_path.yaml"
    assert default.exists() and PLANTED_KEY not in default.read_text()

    # replay: no key in the environment, the network blocked, the real default provider
    outcomes, output = run_pytest(tmp_path, files)
    assert set(outcomes.values()) == {"PASSED"}, output
