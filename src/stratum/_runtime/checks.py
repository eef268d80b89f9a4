"""`ensure` and `given` checks: compiled once, evaluated per call, with readable violations.

A violation names the condition by its source text and shows the values it read, e.g.
`ensure: r.confidence > 0.7 (actual: r.confidence=0.42)`.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import reprlib
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from stratum.exceptions import StratumCompileError

__all__ = ("CompiledCheck", "compile_checks", "run_ensure", "run_given")

Kind = Literal["ensure", "given"]

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlist = 6
_repr.maxdict = 6


@dataclass(frozen=True, slots=True)
class _Step:
    attr: str | None
    index: Any = None


@dataclass(frozen=True, slots=True)
class _Probe:
    """A value to show next to a failed check: a chain like `r.items[0].name`, maybe in `len()`."""

    text: str
    root: str
    steps: tuple[_Step, ...]
    wrap_len: bool


@dataclass(frozen=True, slots=True)
class CompiledCheck:
    """A compiled `ensure` or `given` callable."""

    fn: Callable[..., Any]
    kind: Kind
    source: str
    result_param: str | None
    keyword_params: tuple[str, ...]
    takes_all: bool
    probes: tuple[_Probe, ...]


def _lambda_source(fn: Callable[..., Any]) -> str | None:
    code: types.CodeType | None = getattr(fn, "__code__", None)
    if code is None or code.co_name != "<lambda>":
        return None
    spans = [
        (line, end, col, end_col)
        for line, end, col, end_col in code.co_positions()
        if line is not None and end is not None and col is not None and end_col is not None
        and not (col == 0 and end_col == 0)
    ]
    if not spans:
        return None
    start = min((s[0], s[2]) for s in spans)
    stop = max((s[1], s[3]) for s in spans)
    lines: list[str] = linecache.getlines(code.co_filename)
    if not lines or stop[0] > len(lines):
        return None
    if start[0] == stop[0]:
        text = lines[start[0] - 1].encode()[start[1] : stop[1]].decode(errors="replace")
    else:
        first = lines[start[0] - 1].encode()[start[1] :].decode(errors="replace")
        middle = lines[start[0] : stop[0] - 1]
        last = lines[stop[0] - 1].encode()[: stop[1]].decode(errors="replace")
        text = first + "".join(middle) + last
    return " ".join(text.split())


def _source(fn: Callable[..., Any]) -> str:
    text = _lambda_source(fn)
    if text is not None:
        return text
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{name}()"


def _chain(node: ast.expr) -> tuple[str, tuple[_Step, ...]] | None:
    steps: list[_Step] = []
    while True:
        if isinstance(node, ast.Attribute):
            steps.append(_Step(node.attr))
            node = node.value
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            steps.append(_Step(None, node.slice.value))
            node = node.value
        elif isinstance(node, ast.Name):
            return node.id, tuple(reversed(steps))
        else:
            return None


def _probes(source: str, params: Sequence[str]) -> tuple[list[_Probe], list[tuple[str, str]]]:
    """Value probes in `source`, and the (param, attribute) pairs read directly off params."""
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        return [], []
    probes: list[_Probe] = []
    direct: list[tuple[str, str]] = []
    seen: set[str] = set()
    inner: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Subscript):
            inner.add(id(node.value))
        if isinstance(node, ast.Call):
            inner.add(id(node.func))  # a method being called is not a value worth showing
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "len"
            and len(node.args) == 1
        ):
            found = _chain(node.args[0])
            if found and found[0] in params:
                text = f"len({ast.unparse(node.args[0])})"
                if text not in seen:
                    seen.add(text)
                    probes.append(_Probe(text, found[0], found[1], True))
        if isinstance(node, ast.Attribute | ast.Subscript | ast.Name) and id(node) not in inner:
            found = _chain(node)
            if found is None or found[0] not in params:
                continue
            if found[1] and found[1][0].attr is not None:
                direct.append((found[0], found[1][0].attr))
            text = ast.unparse(node)
            if text not in seen:
                seen.add(text)
                probes.append(_Probe(text, found[0], found[1], False))
    return probes, direct


def _check_fields(direct: list[tuple[str, str]], result_param: str, result_type: Any, fields: frozenset[str], where: str, source: str) -> None:
    for root, attr in direct:
        if root != result_param or attr in fields or hasattr(result_type, attr):
            continue
        known = ", ".join(sorted(fields)) or "none"
        raise StratumCompileError(
            f"{where}: ensure `{source}` reads {root}.{attr}, but {getattr(result_type, '__name__', result_type)} "
            f"has no field {attr!r} (fields: {known}); fix the name in the ensure"
        )


def compile_checks(
    checks: Callable[..., Any] | Sequence[Callable[..., Any]] | None,
    *,
    kind: Kind,
    where: str,
    params: Sequence[str],
    result_type: Any = None,
    result_fields: frozenset[str] = frozenset(),
) -> tuple[CompiledCheck, ...]:
    """Compile `ensure`/`given` callables, checking what they name against the function.

    Raises:
        StratumCompileError: a check is not callable, names a parameter the function does not
            have, or (ensure on a contract) reads a field the contract does not have.
    """
    if checks is None:
        return ()
    items = [checks] if callable(checks) else list(checks)
    out: list[CompiledCheck] = []
    for fn in items:
        if not callable(fn):
            raise StratumCompileError(f"{where}: {kind} items must be callables, got {fn!r}")
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            sig = None
        source = _source(fn)
        result_param: str | None = None
        keyword: list[str] = []
        takes_all = False
        if sig is not None:
            positional = [
                p for p in sig.parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            ]
            takes_all = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
            if kind == "ensure":
                if not positional:
                    raise StratumCompileError(
                        f"{where}: ensure `{source}` must take the result as its first parameter, e.g. lambda r: ..."
                    )
                result_param = positional[0].name
                positional = positional[1:]
            for p in positional:
                if p.name not in params:
                    if p.default is not p.empty:
                        continue
                    raise StratumCompileError(
                        f"{where}: {kind} `{source}` asks for {p.name!r}, which is not a parameter of the "
                        f"function (parameters: {', '.join(params) or 'none'}); rename it to one of them"
                    )
                keyword.append(p.name)
        names = [result_param, *keyword] if result_param else keyword
        probes, direct = _probes(source, names) if _lambda_source(fn) is not None else ([], [])
        if kind == "ensure" and result_param and result_fields:
            _check_fields(direct, result_param, result_type, result_fields, where, source)
        out.append(CompiledCheck(fn, kind, source, result_param, tuple(keyword), takes_all, tuple(probes)))
    return tuple(out)


def _kwargs(check: CompiledCheck, bound: Mapping[str, Any]) -> dict[str, Any]:
    if check.takes_all:
        return {k: v for k, v in bound.items() if k not in check.keyword_params}
    return {name: bound[name] for name in check.keyword_params if name in bound}


def _probe_value(probe: _Probe, values: Mapping[str, Any]) -> Any:
    value = values[probe.root]
    for step in probe.steps:
        value = getattr(value, step.attr) if step.attr is not None else value[step.index]
    return len(value) if probe.wrap_len else value


def _actuals(check: CompiledCheck, values: Mapping[str, Any]) -> str:
    shown: list[str] = []
    for probe in check.probes:
        if probe.root != check.result_param and probe.steps == () and not probe.wrap_len:
            continue
        try:
            value = _probe_value(probe, values)
        except Exception:  # noqa: BLE001 - a probe that cannot be read is skipped
            continue
        if callable(value):
            continue
        shown.append(f"{probe.text}={_repr.repr(value)}")
    if not shown and check.result_param is not None:
        shown.append(f"{check.result_param}={_repr.repr(values.get(check.result_param))}")
    return ", ".join(shown)


def _explain(check: CompiledCheck, exc: BaseException) -> str:
    message = str(exc).strip()
    label = f"{check.kind}: {check.source}"
    if isinstance(exc, AssertionError | ValueError):
        return f"{label}: {message}" if message else f"{label} (assertion failed)"
    return f"{label} raised {type(exc).__name__}: {message}"


def run_ensure(check: CompiledCheck, result: Any, bound: Mapping[str, Any]) -> str | None:
    """Evaluate one ensure; None when it holds, else the violation message."""
    kwargs = _kwargs(check, bound)
    try:
        ok = check.fn(result, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the output caused it; it becomes a violation
        return _explain(check, exc)
    if ok:
        return None
    values = {**kwargs, **({check.result_param: result} if check.result_param else {})}
    actual = _actuals(check, values)
    return f"ensure: {check.source}" + (f" (actual: {actual})" if actual else "")


def run_given(check: CompiledCheck, bound: Mapping[str, Any]) -> str | None:
    """Evaluate one given; None when it holds, else the failure message."""
    kwargs = _kwargs(check, bound)
    try:
        ok = check.fn(**kwargs)
    except Exception as exc:  # noqa: BLE001
        return _explain(check, exc)
    if ok:
        return None
    actual = _actuals(check, kwargs)
    return f"given: {check.source}" + (f" (actual: {actual})" if actual else "")
