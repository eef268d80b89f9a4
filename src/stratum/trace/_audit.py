"""The audit of a flow: one row per step (attempts, tokens, cost, duration, retry reasons).

Works the same on live records (`stratum.trace.records()`) and on records loaded back from a
JSONL file or SQLite store; `stratum audit` and `stratum demo` both print it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from stratum._runtime.budget import BudgetEvent
from stratum.exceptions import ConfigurationError
from stratum.trace._records import FlowRecord, TraceRecord

__all__ = ("Audit", "AuditFormat", "audit", "audit_report", "render_audit")

AuditFormat = Literal["table", "md", "json", "html"]

OUTSIDE_FLOW = "(outside any flow)"
"""Name of the pseudo-flow that holds calls made outside every `@flow`."""

MISSING_FLOW = "(flow record missing)"
"""Name of a pseudo-flow whose calls carry a flow id but whose flow record was not kept."""


@dataclass(slots=True)
class _Group:
    flow_id: str | None
    name: str
    record: FlowRecord | None
    steps: list[TraceRecord] = field(default_factory=list[TraceRecord])

    @property
    def started_at(self) -> dt.datetime:
        if self.record is not None:
            return self.record.started_at
        return min((s.started_at for s in self.steps), default=dt.datetime.min.replace(tzinfo=dt.UTC))

    @property
    def status(self) -> str:
        if self.record is not None:
            return self.record.status
        return "failed" if any(s.status != "ok" for s in _top_level(self.steps)) else "ok"

    def duration_ms(self) -> float:
        if self.record is not None:
            return self.record.duration_ms
        if not self.steps:
            return 0.0
        # Wall clock from the first start to the last end: parallel steps are not double counted.
        start = min(s.started_at for s in self.steps)
        end = max(s.started_at + dt.timedelta(milliseconds=s.duration_ms) for s in self.steps)
        return (end - start).total_seconds() * 1000

    def budget_events(self) -> list[BudgetEvent]:
        seen: list[BudgetEvent] = list(self.record.budget_events) if self.record is not None else []
        for step in self.steps:
            seen.extend(e for e in step.budget_events if e not in seen)
        return seen


def _top_level(steps: Sequence[TraceRecord]) -> list[TraceRecord]:
    """The steps not made under another step of the same list: a tool that failed and was
    reported to the model does not fail the call (or the flow) that used it."""
    ids = {s.record_id for s in steps}
    return [s for s in steps if s.parent_id is None or s.parent_id not in ids]


def _group(flows: Sequence[FlowRecord], records: Sequence[TraceRecord]) -> list[_Group]:
    groups: dict[str | None, _Group] = {f.flow_id: _Group(f.flow_id, f.name, f) for f in flows}
    for record in sorted(records, key=lambda r: r.started_at):
        group = groups.get(record.flow_id)
        if group is None:
            name = OUTSIDE_FLOW if record.flow_id is None else MISSING_FLOW
            group = groups[record.flow_id] = _Group(record.flow_id, name, None)
        group.steps.append(record)
    return sorted(groups.values(), key=lambda g: g.started_at)


def _select(groups: list[_Group], flow: str | None) -> list[_Group]:
    if flow is None:
        return groups
    exact = [g for g in groups if g.flow_id == flow or g.name == flow]
    if exact:
        return exact
    prefixed = [g for g in groups if g.flow_id is not None and g.flow_id.startswith(flow)]
    if len(prefixed) == 1:
        return prefixed
    known = ", ".join(f"{g.name} ({(g.flow_id or '-')[:8]})" for g in groups[-5:]) or "none"
    if prefixed:
        raise ConfigurationError(f"flow id prefix {flow!r} matches {len(prefixed)} flows; give more characters")
    raise ConfigurationError(f"no flow matches {flow!r}; pass a flow id, a unique id prefix or a flow name (recent: {known})")


def _retries(record: TraceRecord) -> int:
    return max(record.attempts - 1, 0)


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else many or one + 's'}"


def _attempts_cell(record: TraceRecord) -> str:
    """A step that reached no model (`@compute`, a cache hit, a composed parent) shows "-"."""
    return str(record.attempts) if record.attempts else "-"


def _sum_cost(records: Sequence[TraceRecord]) -> Decimal | None:
    known = [r.cost_usd for r in records if r.cost_usd is not None]
    return sum(known, Decimal(0)) if known else None


def _sum_savings(records: Sequence[TraceRecord]) -> Decimal | None:
    known = [r.cache_savings_usd for r in records if r.cache_savings_usd is not None]
    return sum(known, Decimal(0)) if known else None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _step_json(record: TraceRecord) -> dict[str, Any]:
    step = {
        "function": record.function,
        "status": record.status,
        "attempts": record.attempts,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cost_usd": _money(record.cost_usd),
        "duration_ms": round(record.duration_ms, 3),
        "retry_reasons": list(record.retry_reasons),
    }
    if record.cache_savings_usd is not None:  # only with a prompt-cache saving: the pinned shape stays
        step["cached_input_tokens"] = record.cached_input_tokens
        step["cache_savings_usd"] = _money(record.cache_savings_usd)
    return step


def _totals(group: _Group) -> dict[str, Any]:
    steps = group.steps
    totals = {
        "attempts": sum(s.attempts for s in steps),
        "retries": sum(_retries(s) for s in steps),
        "input_tokens": sum(s.input_tokens for s in steps),
        "output_tokens": sum(s.output_tokens for s in steps),
        "cost_usd": _money(_sum_cost(steps)),
        "duration_ms": round(group.duration_ms(), 3),
    }
    savings = _sum_savings(steps)
    if savings is not None:
        totals["cached_input_tokens"] = sum(s.cached_input_tokens for s in steps)
        totals["cache_savings_usd"] = _money(savings)
    return totals


def audit_report(
    flows: Sequence[FlowRecord], records: Sequence[TraceRecord], *, flow: str | None = None
) -> dict[str, Any]:
    """The audit as data: `{"flows": [{"flow_id", "name", "steps": [...], "totals": {...}}]}`.

    Money is a decimal string (exact), or None when no price was known.
    """
    groups = _select(_group(flows, records), flow)
    return {
        "flows": [
            {"flow_id": g.flow_id, "name": g.name, "steps": [_step_json(s) for s in g.steps], "totals": _totals(g)}
            for g in groups
        ]
    }


# --- text rendering --------------------------------------------------------------------------


def _usd(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.4f}"
    return "$" + f"{value:.6f}".rstrip("0").rstrip(".")


def _duration(ms: float) -> str:
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 120_000:
        return f"{ms / 1000:.2f} s"
    return f"{ms / 60_000:.1f} min"


def _amount(axis: str, value: Decimal | int | float) -> str:
    if axis == "usd":
        return _usd(Decimal(str(value)))
    if axis == "ms":
        return _duration(float(value))
    return f"{int(value):,} tokens"


def _event_text(event: BudgetEvent) -> str:
    return (
        f"{event.axis} passed {event.threshold:.0%} of its limit "
        f"(spent {_amount(event.axis, event.spent)} of {_amount(event.axis, event.limit)})"
    )


def _limits_text(record: FlowRecord | None) -> str:
    if record is None:
        return ""
    parts = [f"{axis} {_amount(axis, value)}" for axis, value in record.limits.items() if value is not None]
    return f"budget {', '.join(parts)}" if parts else ""


def _header(g: _Group) -> list[str]:
    bits = [g.status]
    if g.steps or g.record is not None:
        bits.append(g.started_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    if limits := _limits_text(g.record):
        bits.append(limits)
    if g.record is not None and g.record.parent_flow_id:
        bits.append(f"inside flow {g.record.parent_flow_id[:8]}")
    return bits


def _totals_text(g: _Group) -> str:
    steps = g.steps
    retries = sum(_retries(s) for s in steps)
    tokens_in = sum(s.input_tokens for s in steps)
    tokens_out = sum(s.output_tokens for s in steps)
    failed = sum(1 for s in _top_level(steps) if s.status != "ok")
    outcome = "all passing" if not failed else f"{failed} failed"
    savings = _sum_savings(steps)
    if savings is not None:
        cached = sum(s.cached_input_tokens for s in steps)
        outcome += f"; prompt cache: {cached:,} cached input tokens, saved {_usd(savings)}"
    return (
        f"{_plural(len(steps), 'step')}, {_plural(sum(s.attempts for s in steps), 'attempt')} "
        f"({_plural(retries, 'retry', 'retries')}), {tokens_in + tokens_out:,} tokens "
        f"(in {tokens_in:,} / out {tokens_out:,}), {_usd(_sum_cost(steps))}, {_duration(g.duration_ms())}, {outcome}"
    )


def _reasons(record: TraceRecord) -> list[tuple[int, str]]:
    failed = [a for a in record.attempt_records if a.outcome not in ("ok", "tool_use")]
    if len(failed) == len(record.retry_reasons):
        return [(a.attempt + 1, reason) for a, reason in zip(failed, record.retry_reasons, strict=True)]
    return list(enumerate(record.retry_reasons, 1))


def _tree(steps: list[TraceRecord]) -> list[tuple[int, TraceRecord]]:
    """The steps in call order, each followed by the records made under it (tool calls,
    members of a composed call), with their depth for indentation."""
    ids = {s.record_id for s in steps}
    children: dict[str, list[TraceRecord]] = {}
    roots: list[TraceRecord] = []
    for step in steps:  # already sorted by start time
        if step.parent_id is not None and step.parent_id in ids and step.parent_id != step.record_id:
            children.setdefault(step.parent_id, []).append(step)
        else:
            roots.append(step)
    out: list[tuple[int, TraceRecord]] = []

    def walk(step: TraceRecord, depth: int) -> None:
        out.append((depth, step))
        if depth < 32:  # parent links come from loaded files too: never loop on a bad one
            for child in children.get(step.record_id, ()):
                walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return out


def _round(record: TraceRecord) -> str:
    round_no = record.meta.get("tool_round")
    return f" (tool, round {round_no})" if isinstance(round_no, int) else ""


def _label(depth: int, record: TraceRecord) -> str:
    if not depth:
        return record.function
    return "  " * (depth - 1) + "└ " + record.function + _round(record)


def _table(groups: list[_Group], dropped: int) -> str:
    out: list[str] = []
    for g in groups:
        out.append(f"Flow {g.name} ({(g.flow_id or '-')[:8]}): {' · '.join(_header(g))}")
        ordered = _tree(g.steps)
        rows = [
            ("#", "function", "status", "attempts", "in tok", "out tok", "cost", "duration"),
            *(
                (
                    str(i),
                    _label(depth, s),
                    s.status,
                    _attempts_cell(s),
                    f"{s.input_tokens:,}",
                    f"{s.output_tokens:,}",
                    _usd(s.cost_usd),
                    _duration(s.duration_ms),
                )
                for i, (depth, s) in enumerate(ordered, 1)
            ),
        ]
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        left = {1, 2}
        for index, row in enumerate(rows):
            cells = [cell.ljust(w) if c in left else cell.rjust(w) for c, (cell, w) in enumerate(zip(row, widths, strict=True))]
            out.append("  " + "  ".join(cells).rstrip())
            if index > 0:
                step = ordered[index - 1][1]
                pad = " " * (widths[0] + 4)
                for attempt, reason in _reasons(step):
                    out.append(f"{pad}attempt {attempt} failed: {reason}")
                if step.status != "ok" and step.error:
                    out.append(f"{pad}error: {step.error}")
        out.append(f"  Total: {_totals_text(g)}")
        for event in g.budget_events():
            out.append(f"  Budget: {_event_text(event)}")
        out.append("")
    if dropped:
        out.append(f"Note: the sink dropped {dropped} record(s); this audit may be incomplete.")
    return "\n".join(out).rstrip() + "\n" if out else "No records.\n"


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _markdown(groups: list[_Group], dropped: int) -> str:
    out: list[str] = ["# Stratum audit", ""]
    if not groups:
        out.append("No records.")
    for g in groups:
        out.append(f"## Flow `{g.name}` (`{(g.flow_id or '-')[:8]}`)")
        out.append("")
        out.append(" · ".join(_header(g)))
        out.append("")
        out.append("| # | function | status | attempts | input tokens | output tokens | cost | duration | retry reasons |")
        out.append("|---:|---|---|---:|---:|---:|---:|---:|---|")
        for i, (depth, s) in enumerate(_tree(g.steps), 1):
            reasons = "<br>".join(f"attempt {a}: {_md_cell(r)}" for a, r in _reasons(s))
            indent = "&nbsp;&nbsp;" * depth + ("└ " if depth else "")
            out.append(
                f"| {i} | {indent}`{_md_cell(s.function)}`{_round(s)} | {s.status} | {_attempts_cell(s)} | {s.input_tokens:,} | "
                f"{s.output_tokens:,} | {_usd(s.cost_usd)} | {_duration(s.duration_ms)} | {reasons} |"
            )
        out.append("")
        out.append(f"**Total:** {_totals_text(g)}")
        events = g.budget_events()
        if events:
            out.append("")
            out.append("**Budget events:**")
            out.append("")
            out.extend(f"- {_event_text(e)}" for e in events)
        errors = [(i, s) for i, (_, s) in enumerate(_tree(g.steps), 1) if s.status != "ok" and s.error]
        if errors:
            out.append("")
            out.append("**Errors:**")
            out.append("")
            out.extend(f"- step {i} `{s.function}`: {s.error}" for i, s in errors)
        out.append("")
    if dropped:
        out.append(f"> The sink dropped {dropped} record(s); this audit may be incomplete.")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_audit(
    flows: Sequence[FlowRecord],
    records: Sequence[TraceRecord],
    *,
    format: AuditFormat = "table",  # noqa: A002 - the CLI flag's name
    flow: str | None = None,
    dropped: int = 0,
) -> str:
    """Render the per-step audit of each flow: attempts, tokens, cost, duration, retry reasons.

    Calls made outside any flow are grouped in a pseudo-flow named `(outside any flow)`.

    Example:
        ```python
        print(stratum.trace.render_audit(stratum.trace.flows(), stratum.trace.records()))
        ```

    Args:
        flows: flow records (live, or from `stratum.trace.load`).
        records: call records (live, or loaded).
        format: `"table"` for a terminal, `"md"` for a file committed next to the code,
            `"json"` for tools (`{"flows": [{"flow_id", "name", "steps", "totals"}]}`),
            `"html"` for a self-contained page (timeline of calls and attempts, retry reasons,
            budget burn against the cap, cost per step).
        flow: only this flow: a flow id, a unique id prefix, or a flow name.
        dropped: records the sink reported as lost (shown as a warning).

    Raises:
        ConfigurationError: when `flow` matches nothing, or `format` is unknown.
    """
    if format == "json":
        return json.dumps(audit_report(flows, records, flow=flow), indent=2) + "\n"
    groups = _select(_group(flows, records), flow)
    if format == "table":
        return _table(groups, dropped)
    if format == "md":
        return _markdown(groups, dropped)
    if format == "html":
        from stratum.trace._audit_html import render_html

        return render_html(groups, dropped)
    raise ConfigurationError(f"unknown audit format {format!r}; use 'table', 'md', 'json' or 'html'")  # pyright: ignore[reportUnreachable]


@dataclass(frozen=True, slots=True)
class Audit:
    """The audit of some flows: `str()` is the terminal table; Jupyter shows the HTML page.

    Build one with `stratum.trace.audit()`.
    """

    flows: tuple[FlowRecord, ...]
    records: tuple[TraceRecord, ...]
    flow: str | None = None
    dropped: int = 0

    def render(self, format: AuditFormat = "table") -> str:  # noqa: A002 - the CLI flag's name
        """The audit as `"table"`, `"md"`, `"json"` or `"html"` (a self-contained page)."""
        return render_audit(self.flows, self.records, format=format, flow=self.flow, dropped=self.dropped)

    def to_dict(self) -> dict[str, Any]:
        """The audit as data (the `--format json` shape)."""
        return audit_report(self.flows, self.records, flow=self.flow)

    def __str__(self) -> str:
        return self.render("table")

    def _repr_html_(self) -> str:
        return self.render("html")


def audit(
    flows: Sequence[FlowRecord] | None = None,
    records: Sequence[TraceRecord] | None = None,
    *,
    flow: str | None = None,
) -> Audit:
    """The audit of the recorded flows (by default the in-memory store's), for print or Jupyter.

    Example:
        ```python
        stratum.trace.audit()                      # in a notebook: timeline, burn, cost per step
        print(stratum.trace.audit(flow="triage"))  # in a terminal: the per-step table
        ```

    Raises:
        ConfigurationError: when `flow` matches nothing.
    """
    from stratum.trace._emit import memory_store

    store = memory_store()
    chosen = Audit(
        tuple(store.flows() if flows is None else flows),
        tuple(store.records() if records is None else records),
        flow,
        store.dropped if flows is None and records is None else 0,
    )
    _select(_group(chosen.flows, chosen.records), flow)  # fail now on a flow that matches nothing
    return chosen
