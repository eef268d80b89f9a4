"""The HTML audit: a self-contained page, checked by rendering it in a real headless Chromium.

The browser test needs the distribution's `chromium` package (`apt-get install chromium`);
without a browser on PATH it is skipped and says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

import stratum
from stratum import Budget, compute, flow
from stratum.testing import Reply, ScriptedModel, use_model
from stratum.trace import render_audit
from stratum.trace._audit_html import NO_MODEL_COLOUR, OUTCOME_COLOURS

from trace_flows import PRICE, classify, summarize

pytestmark = pytest.mark.anyio

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
CAP_RED = "#d63b3b"
BURN_BLUE = "#2f6fd6"


@compute
def word_count(text: str) -> int:
    return len(text.split())


@flow(budget=Budget(usd="0.004"))
async def review(text: str) -> str:
    """Two ensure failures, then a pass, a compute step, then a summary."""
    sentiment = await classify(text=text)
    word_count(text)
    return await summarize(text=text, label=sentiment.label)


def _model() -> ScriptedModel:
    return ScriptedModel(
        [
            Reply({"label": "positive", "confidence": 0.3}, usage=(300, 40), latency_ms=30),
            Reply({"label": "positive", "confidence": 0.5}, usage=(340, 40), latency_ms=30),
            Reply({"label": "positive", "confidence": 0.9}, usage=(380, 40), latency_ms=30),
            Reply("A happy customer.", usage=(120, 30), latency_ms=20),
        ],
        price=PRICE,
    )


async def _page() -> str:
    with use_model(_model()):
        await review("the <b>new</b> release is great")
    return render_audit(stratum.trace.flows(), stratum.trace.records(), format="html")


async def test_page_is_self_contained_and_says_what_happened() -> None:
    page = await _page()
    assert page.startswith("<!DOCTYPE html>")
    # Nothing to fetch: no script, no stylesheet link, no remote image.
    assert "<script" not in page and "<link" not in page and "http://" not in page and "https://" not in page
    assert page.count('class="attempt" data-outcome="violation"') == 2
    assert page.count('class="attempt" data-outcome="ok"') == 2
    assert 'data-outcome="none"' in page  # the @compute step, not "0 attempts"
    assert "attempt 1: ensure: r.confidence &gt; 0.7 (actual: r.confidence=0.3)" in page
    assert "attempt 2: ensure: r.confidence &gt; 0.7 (actual: r.confidence=0.5)" in page
    assert "cap $0.004" in page
    assert "4 attempts (2 retries)" in page
    record = next(r for r in stratum.trace.records() if r.function.endswith("classify"))
    assert record.cost_usd is not None and record.cost_usd > Decimal(0)
    assert "passed" in page  # the budget threshold events are listed


async def test_jupyter_shows_records_and_audits_as_tables() -> None:
    await _page()
    record = next(r for r in stratum.trace.records() if r.function.endswith("classify"))
    table = record._repr_html_()
    assert table.startswith("<div><b>TraceRecord</b>") and "<table>" in table
    assert "<td class=\"n\">3</td><td>ok</td>" in table  # attempts counted from 1
    assert "r.confidence=0.3" in table
    flow_table = stratum.trace.flows()[0]._repr_html_()
    assert "<b>FlowRecord</b>" in flow_table and "usd=0.004" in flow_table
    audit = stratum.trace.audit()
    assert audit._repr_html_() == render_audit(audit.flows, audit.records, format="html")
    assert str(audit).startswith("Flow review (")
    assert audit.to_dict()["flows"][0]["totals"]["attempts"] == 4
    with pytest.raises(stratum.ConfigurationError, match="no flow matches"):
        stratum.trace.audit(flow="nope")
    # Text from the run is escaped, never markup.
    assert "<b>new</b>" not in stratum.trace.records()[0]._repr_html_()


def _browser() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = int(hex_colour.lstrip("#"), 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def test_page_renders_in_a_real_browser(tmp_path: Path) -> None:
    browser = _browser()
    if browser is None:
        if os.environ.get("STRATUM_REQUIRE_BROWSER"):  # CI installs one (.ci/run): never skip there
            pytest.fail("Chromium is required here (STRATUM_REQUIRE_BROWSER=1): apt-get install -y chromium")
        pytest.skip("no Chromium on PATH: install the distribution package (apt-get install chromium) to run the browser check")
    from PIL import Image

    page = tmp_path / "audit.html"
    page.write_text(stratum.run(_page()), encoding="utf-8")
    shot = tmp_path / "audit.png"
    subprocess.run(
        [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,1300", f"--screenshot={shot}",
            page.as_uri(),
        ],
        check=True, capture_output=True, timeout=120,
    )
    image = Image.open(shot).convert("RGB")
    if keep := os.environ.get("STRATUM_KEEP_SCREENSHOT"):
        shutil.copy(shot, keep)  # to look at it
    assert image.size == (1000, 1300)
    counts: dict[tuple[int, int, int], int] = {
        colour: count for count, colour in image.getcolors(maxcolors=image.size[0] * image.size[1]) or []
    }
    white = counts.get((255, 255, 255), 0)
    assert white < 0.97 * image.size[0] * image.size[1], "the page rendered blank"
    # The timeline is drawn: retried attempts (violation), passing attempts and the @compute
    # step each fill solid bars; the burn chart draws its line and the cap.
    for name, colour, at_least in [
        ("violation attempts", OUTCOME_COLOURS["violation"], 400),
        ("ok attempts", OUTCOME_COLOURS["ok"], 400),
        ("compute step", NO_MODEL_COLOUR, 40),
        ("budget burn line", BURN_BLUE, 300),
        ("budget cap line", CAP_RED, 100),
    ]:
        found = counts.get(_rgb(colour), 0)
        assert found >= at_least, f"{name}: {found} pixels of {colour} in the screenshot"
    # The first step's bar reads left to right: the two retried attempts, then the pass.
    pixels = image.load()
    assert pixels is not None
    width, height = image.size
    violation, ok = _rgb(OUTCOME_COLOURS["violation"]), _rgb(OUTCOME_COLOURS["ok"])
    row = max(range(height), key=lambda y: sum(pixels[x, y] == violation for x in range(0, width, 2)))
    xs_violation = [x for x in range(width) if pixels[x, row] == violation]
    xs_ok = [x for x in range(width) if pixels[x, row] == ok]
    assert len(xs_violation) > 100 and xs_ok, "the retried call's attempts are not drawn on one row"
    assert max(xs_violation) < min(xs_ok)
