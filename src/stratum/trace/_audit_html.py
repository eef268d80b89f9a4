"""The audit as one self-contained HTML page: timeline, retry reasons, budget burn, cost per step.

No script, no external file: inline CSS and SVG only, so the page opens from disk, attaches to a
ticket, and renders the same in a notebook (`_repr_html_`) or a headless browser.
"""

from __future__ import annotations

import datetime as dt
import html
from types import MappingProxyType
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from stratum.trace._records import AttemptRecord, FlowRecord, TraceRecord

if TYPE_CHECKING:
    from stratum.trace._audit import _Group  # pyright: ignore[reportPrivateUsage]

__all__ = ("OUTCOME_COLOURS", "record_table", "render_html")

OUTCOME_COLOURS = MappingProxyType({
    "ok": "#2e9d5b",
    "violation": "#e08a1e",
    "parse_error": "#e08a1e",
    "truncated": "#e0b21e",
    "refusal": "#b0457c",
    "content_filter": "#b0457c",
    "provider_error": "#d63b3b",
    "budget": "#7a4fd6",
    "cancelled": "#8a8f98",
})
"""Fill of an attempt's bar on the timeline, by outcome (the legend lists them)."""

NO_MODEL_COLOUR = "#9db4d6"
"""Fill of a step that reached no model (`@compute`, cache hit, composed parent)."""

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#fff;margin:24px}
h1{font-size:20px;margin:0 0 16px}h2{font-size:17px;margin:28px 0 4px}h3{font-size:14px;margin:16px 0 6px;color:#48505e}
.meta{color:#5b6474;margin-bottom:10px}.ok{color:#2e9d5b}.failed{color:#d63b3b}.cancelled{color:#8a8f98}
table{border-collapse:collapse;margin:6px 0}th,td{padding:3px 10px;border-bottom:1px solid #e4e7ec;text-align:left;vertical-align:top}
th{background:#f4f6f9;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.reasons{margin:0;padding-left:0;list-style:none;color:#7a4a12}.err{color:#b02a2a}
svg{display:block;max-width:100%;height:auto}svg text{font:12px system-ui,sans-serif;fill:#1d2330}
svg .axis{stroke:#b6bcc7;stroke-width:1}svg .grid{stroke:#eef0f3;stroke-width:1}
.legend span{display:inline-block;margin-right:12px}.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px;border-radius:2px}
.flow{border-top:2px solid #dfe3ea;padding-top:4px}.note{color:#7a4a12}
"""

_TIMELINE_W = 920
_LABEL_W = 190
_ROW_H = 26


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _ms_between(start: dt.datetime, end: dt.datetime) -> float:
    return (end - start).total_seconds() * 1000


def _attempt_spans(step: TraceRecord, offset: float) -> list[tuple[float, float, AttemptRecord]]:
    """(start ms, end ms, attempt) of each attempt, laid end to end from the step's start."""
    spans: list[tuple[float, float, AttemptRecord]] = []
    at = offset
    end = offset + step.duration_ms
    for attempt in step.attempt_records:
        stop = min(at + attempt.latency_ms, end) if end > at else at + attempt.latency_ms
        spans.append((at, max(stop, at), attempt))
        at = stop
    return spans


def _reason(attempt: AttemptRecord) -> str | None:
    if attempt.outcome == "ok":
        return None
    return "; ".join(attempt.violations) or attempt.error or attempt.outcome


def _timeline(g: _Group, span_ms: float) -> str:
    from stratum.trace._audit import _duration, _usd  # pyright: ignore[reportPrivateUsage]

    start = g.started_at
    plot_w = _TIMELINE_W - _LABEL_W - 20
    scale = plot_w / span_ms if span_ms > 0 else 0.0
    height = 30 + _ROW_H * len(g.steps) + 24
    out = [
        f'<svg class="timeline" viewBox="0 0 {_TIMELINE_W} {height}" width="{_TIMELINE_W}" height="{height}" '
        f'role="img" aria-label="timeline of {_e(g.name)}">'
    ]
    for tick in range(5):
        x = _LABEL_W + plot_w * tick / 4
        out.append(f'<line class="grid" x1="{x:.1f}" y1="18" x2="{x:.1f}" y2="{height - 22}"/>')
        anchor = "end" if tick == 4 else "middle"
        out.append(f'<text x="{x:.1f}" y="{height - 6}" text-anchor="{anchor}">{_e(_duration(span_ms * tick / 4))}</text>')
    for row, step in enumerate(g.steps):
        y = 24 + row * _ROW_H
        offset = max(_ms_between(start, step.started_at), 0.0)
        label = step.function if len(step.function) <= 26 else step.function[:25] + "…"
        out.append(f'<text x="{_LABEL_W - 8}" y="{y + 15}" text-anchor="end">{_e(label)}</text>')
        x0 = _LABEL_W + offset * scale
        width = max(step.duration_ms * scale, 2.0)
        tip = f"{step.function}: {step.status}, {_duration(step.duration_ms)}, {_usd(step.cost_usd)}"
        out.append(
            f'<rect class="step" x="{x0:.1f}" y="{y + 2}" width="{width:.1f}" height="{_ROW_H - 8}" rx="3" '
            f'fill="none" stroke="#9aa3b2" stroke-dasharray="3 2"><title>{_e(tip)}</title></rect>'
        )
        if not step.attempt_records:
            out.append(
                f'<rect class="attempt" data-outcome="none" x="{x0:.1f}" y="{y + 4}" width="{width:.1f}" '
                f'height="{_ROW_H - 12}" rx="2" fill="{NO_MODEL_COLOUR}"><title>{_e(tip)} (no model call)</title></rect>'
            )
            continue
        for a_start, a_end, attempt in _attempt_spans(step, offset):
            ax = _LABEL_W + a_start * scale
            aw = max((a_end - a_start) * scale, 3.0)
            colour = OUTCOME_COLOURS.get(attempt.outcome, "#8a8f98")
            why = _reason(attempt)
            text = f"attempt {attempt.attempt + 1}: {attempt.outcome}" + (f" — {why}" if why else "")
            text += f" · {_duration(attempt.latency_ms)}"
            out.append(
                f'<rect class="attempt" data-outcome="{_e(attempt.outcome)}" x="{ax:.1f}" y="{y + 4}" '
                f'width="{aw:.1f}" height="{_ROW_H - 12}" rx="2" fill="{colour}" stroke="#fff" stroke-width="1">'
                f"<title>{_e(text)}</title></rect>"
            )
    out.append("</svg>")
    return "".join(out)


def _burn(g: _Group, span_ms: float) -> str:
    """Cumulative spend over time (each attempt's cost at its end) against the flow's cap."""
    from stratum.trace._audit import _amount  # pyright: ignore[reportPrivateUsage]

    limits: Mapping[str, Any] = g.record.limits if g.record is not None else {}
    usd_cap, token_cap = _dec(limits.get("usd")), _dec(limits.get("tokens"))
    axis = "tokens" if usd_cap is None and token_cap is not None else "usd"
    cap = token_cap if axis == "tokens" else usd_cap
    points: list[tuple[float, Decimal]] = []
    marks: list[tuple[float, str]] = []
    for step in g.steps:
        offset = max(_ms_between(g.started_at, step.started_at), 0.0)
        for _, a_end, attempt in _attempt_spans(step, offset):
            spent = Decimal(attempt.input_tokens + attempt.output_tokens) if axis == "tokens" else attempt.cost_usd
            if spent:
                points.append((a_end, spent))
        if step.budget_events:
            marks.extend((offset + step.duration_ms, f"{e.axis} passed {e.threshold:.0%}") for e in step.budget_events)
    points.sort(key=lambda p: p[0])
    total = sum((p[1] for p in points), Decimal(0))
    top = max(cap or Decimal(0), total) or Decimal(1)
    width, height, left, bottom = _TIMELINE_W, 190, 70, 24
    plot_w, plot_h = width - left - 20, height - bottom - 16
    sx = plot_w / span_ms if span_ms > 0 else 0.0

    def y(value: Decimal) -> float:
        return 16 + plot_h * (1 - float(value / top))

    out = [
        f'<svg class="burn" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="budget burn ({axis})">'
    ]
    out.append(f'<line class="axis" x1="{left}" y1="{16 + plot_h}" x2="{left + plot_w}" y2="{16 + plot_h}"/>')
    out.append(f'<line class="axis" x1="{left}" y1="16" x2="{left}" y2="{16 + plot_h}"/>')
    for tick in range(5):
        value = top * tick / 4
        out.append(f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{_e(_amount(axis, value))}</text>')
    if cap is not None:
        out.append(
            f'<line class="cap" x1="{left}" y1="{y(cap):.1f}" x2="{left + plot_w}" y2="{y(cap):.1f}" '
            f'stroke="#d63b3b" stroke-width="2" stroke-dasharray="6 4"/>'
        )
        out.append(f'<text x="{left + plot_w}" y="{y(cap) - 5:.1f}" text-anchor="end" fill="#d63b3b">cap {_e(_amount(axis, cap))}</text>')
    running = Decimal(0)
    path = [f"M{left},{y(running):.1f}"]
    for at, spent in points:
        x = left + at * sx
        path.append(f"H{x:.1f}")
        running += spent
        path.append(f"V{y(running):.1f}")
    path.append(f"H{left + plot_w}")
    out.append(f'<path class="spent" d="{"".join(path)}" fill="none" stroke="#2f6fd6" stroke-width="2.5"/>')
    for at, text in marks:
        x = left + at * sx
        level = sum((spent for when, spent in points if when <= at), Decimal(0))
        out.append(
            f'<circle class="threshold" cx="{x:.1f}" cy="{y(level):.1f}" r="4.5" fill="#e08a1e">'
            f"<title>{_e(text)}</title></circle>"
        )
    out.append(
        f'<text x="{left + 6}" y="30">spent {_e(_amount(axis, total))}'
        f"{'' if not cap else f' of {_e(_amount(axis, cap))} ({float(total / cap):.1%} of the cap)'}</text>"
    )
    out.append("</svg>")
    if cap is None:
        out.append('<p class="meta">No budget cap on this flow; the line shows what was spent.</p>')
    return "".join(out)


def _cost_bars(g: _Group) -> str:
    from stratum.trace._audit import _usd  # pyright: ignore[reportPrivateUsage]

    costs = [(s.function, s.cost_usd) for s in g.steps]
    top = max((c for _, c in costs if c is not None), default=Decimal(0)) or Decimal(1)
    width, row = _TIMELINE_W, 20
    height = 8 + row * len(costs)
    bar_w = width - _LABEL_W - 110
    out = [f'<svg class="cost" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="cost per step">']
    for i, (name, cost) in enumerate(costs):
        y = 4 + i * row
        label = name if len(name) <= 26 else name[:25] + "…"
        out.append(f'<text x="{_LABEL_W - 8}" y="{y + 13}" text-anchor="end">{i + 1}. {_e(label)}</text>')
        w = bar_w * float((cost or Decimal(0)) / top)
        out.append(f'<rect x="{_LABEL_W}" y="{y + 3}" width="{max(w, 1.0):.1f}" height="{row - 7}" fill="#2f6fd6" rx="2"/>')
        out.append(f'<text x="{_LABEL_W + max(w, 1.0) + 6:.1f}" y="{y + 13}">{_e(_usd(cost))}</text>')
    out.append("</svg>")
    return "".join(out)


def _steps_table(g: _Group) -> str:
    from stratum.trace._audit import _attempts_cell, _duration, _reasons, _usd  # pyright: ignore[reportPrivateUsage]

    rows = [
        "<table class=\"steps\"><tr><th>#</th><th>function</th><th>status</th><th>attempts</th><th>in tok</th>"
        "<th>out tok</th><th>cost</th><th>duration</th><th>retry reasons</th></tr>"
    ]
    for i, s in enumerate(g.steps, 1):
        reasons = "".join(f"<li>attempt {a}: {_e(r)}</li>" for a, r in _reasons(s))
        error = f'<div class="err">{_e(s.error)}</div>' if s.status != "ok" and s.error else ""
        rows.append(
            f'<tr><td class="n">{i}</td><td><code>{_e(s.function)}</code></td><td class="{_e(s.status)}">{_e(s.status)}</td>'
            f'<td class="n">{_e(_attempts_cell(s))}</td><td class="n">{s.input_tokens:,}</td><td class="n">{s.output_tokens:,}</td>'
            f'<td class="n">{_e(_usd(s.cost_usd))}</td><td class="n">{_e(_duration(s.duration_ms))}</td>'
            f'<td>{f"<ul class=reasons>{reasons}</ul>" if reasons else ""}{error}</td></tr>'
        )
    rows.append("</table>")
    return "".join(rows)


def _legend() -> str:
    used = ("ok", "violation", "provider_error", "budget", "cancelled")
    items = "".join(f'<span><i style="background:{OUTCOME_COLOURS[o]}"></i>{o.replace("_", " ")}</span>' for o in used)
    return f'<p class="legend">{items}<span><i style="background:{NO_MODEL_COLOUR}"></i>no model call</span></p>'


def _flow_section(g: _Group) -> str:
    from stratum.trace._audit import _event_text, _header, _totals_text  # pyright: ignore[reportPrivateUsage]

    ends = [max(_ms_between(g.started_at, s.started_at), 0.0) + s.duration_ms for s in g.steps]
    span_ms = max([g.duration_ms(), *ends, 1.0])
    parts = [
        f'<section class="flow" data-flow-id="{_e(g.flow_id or "")}">',
        f"<h2>Flow <code>{_e(g.name)}</code> <small>({_e((g.flow_id or '-')[:8])})</small></h2>",
        f'<div class="meta">{" · ".join(_e(b) for b in _header(g))}</div>',
        f"<div class=\"totals\"><b>Total:</b> {_e(_totals_text(g))}</div>",
    ]
    if g.steps:
        parts += ["<h3>Timeline</h3>", _legend(), _timeline(g, span_ms)]
        parts += ["<h3>Budget burn</h3>", _burn(g, span_ms)]
        parts += ["<h3>Cost per step</h3>", _cost_bars(g)]
        parts += ["<h3>Steps</h3>", _steps_table(g)]
    events = g.budget_events()
    if events:
        parts.append("<h3>Budget events</h3><ul>" + "".join(f"<li>{_e(_event_text(e))}</li>" for e in events) + "</ul>")
    parts.append("</section>")
    return "".join(parts)


def render_html(groups: Sequence[_Group], dropped: int = 0, *, title: str = "Stratum audit") -> str:
    """The whole audit page."""
    body = "".join(_flow_section(g) for g in groups) or "<p>No records.</p>"
    note = (
        f'<p class="note">The sink dropped {dropped:,} record(s); this audit may be incomplete.</p>' if dropped else ""
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_CSS}</style></head><body><h1>{_e(title)}</h1>{note}{body}</body></html>\n"
    )


def _fields_table(pairs: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs)
    return f"<table>{rows}</table>"


def record_table(record: TraceRecord | FlowRecord) -> str:
    """A record as an HTML table (what Jupyter shows for it)."""
    from stratum.trace._audit import _duration, _usd  # pyright: ignore[reportPrivateUsage]

    if isinstance(record, FlowRecord):
        head = f"<b>FlowRecord</b> <code>{_e(record.name)}</code> <span class=\"{_e(record.status)}\">{_e(record.status)}</span>"
        pairs: list[tuple[str, Any]] = [
            ("flow_id", record.flow_id),
            ("parent_flow_id", record.parent_flow_id or "-"),
            ("started_at", record.started_at.isoformat()),
            ("duration", _duration(record.duration_ms)),
            ("limits", ", ".join(f"{k}={v}" for k, v in record.limits.items() if v is not None) or "-"),
            ("spent", f"{_usd(record.spent_usd)}, {record.spent_tokens:,} tokens"),
            ("calls", len(record.record_ids)),
            ("budget events", len(record.budget_events)),
        ]
        if record.error:
            pairs.append(("error", record.error))
        return f"<div>{head}{_fields_table(pairs)}</div>"
    head = f"<b>TraceRecord</b> <code>{_e(record.function)}</code> <span class=\"{_e(record.status)}\">{_e(record.status)}</span>"
    pairs = [
        ("model", record.model),
        ("record_id", record.record_id),
        ("flow_id", record.flow_id or "-"),
        ("attempts", record.attempts or "-"),
        ("tokens", f"in {record.input_tokens:,} / out {record.output_tokens:,}"),
        ("cost", _usd(record.cost_usd)),
        ("duration", _duration(record.duration_ms)),
        ("started_at", record.started_at.isoformat()),
    ]
    if record.error:
        pairs.append(("error", record.error))
    attempts = ""
    if record.attempt_records:
        rows = "".join(
            f"<tr><td class=\"n\">{a.attempt + 1}</td><td>{_e(a.outcome)}</td><td class=\"n\">{a.input_tokens:,}</td>"
            f"<td class=\"n\">{a.output_tokens:,}</td><td class=\"n\">{_e(_usd(a.cost_usd))}</td>"
            f"<td class=\"n\">{_e(_duration(a.latency_ms))}</td><td>{_e(_reason(a) or '')}</td></tr>"
            for a in record.attempt_records
        )
        attempts = (
            "<table><tr><th>attempt</th><th>outcome</th><th>in tok</th><th>out tok</th><th>cost</th>"
            f"<th>latency</th><th>failure</th></tr>{rows}</table>"
        )
    return f"<div>{head}{_fields_table(pairs)}{attempts}</div>"
