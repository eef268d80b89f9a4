"""The ensure evaluator: what it accepts, the escape corpus it rejects, and fuzzing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratum.mcp import ExpressionError, compile_expression
from stratum.mcp._expr import MAX_INT_BITS, MAX_SEQUENCE

RESULT: dict[str, Any] = {
    "passed": 12, "total": 12, "name": "RateLimiter", "path": "/api/v2/items",
    "items": [{"name": "a", "ok": True}, {"name": "b", "ok": True}], "score": 0.75, "missing": None,
    "tags": ["x", "y"],
}


@pytest.mark.parametrize(
    "source",
    [
        "result.passed == result.total",
        "len(result.items) == 2 and result.score >= 0.7",
        "all(i.ok for i in result.items)",
        "any(i.name == 'b' for i in result.items)",
        "result.path.startswith('/api') and not result.path.endswith('/')",
        "result.name.lower() == 'ratelimiter' and result.name.upper().strip() == 'RATELIMITER'",
        "'x' in result.tags and 'z' not in result.tags",
        "'v2' in result.path",
        "result.missing == null and result.items[0].ok == true",
        "result.missing is None",
        "result['items'][-1]['name'] == 'b'",
        "min(1, 2, 3) == 1 and max(result.tags) == 'y' and sum([1, 2, 3]) == 6",
        "abs(-2) == 2 and round(result.score, 1) == 0.8",
        "result.passed / result.total * 100 >= 99",
        "2 ** 10 == 1024 and 7 // 2 == 3 and 7 % 2 == 1",
        "result.path[:4] == '/api'",
        "(1 if result.passed else 0) == 1",
        "1 < result.passed <= 12",
    ],
)
def test_valid_expressions_hold(source: str) -> None:
    assert compile_expression(source).check(RESULT) is None


def test_failure_names_the_values_it_read() -> None:
    violation = compile_expression("result.passed == result.total").check({"passed": 3, "total": 5})
    assert violation == "ensure: result.passed == result.total (actual: result.passed=3, result.total=5)"


def test_all_names_the_first_failing_item() -> None:
    violation = compile_expression("all(i.ok for i in result.items)").check({"items": [{"ok": True}, {"ok": False}]})
    assert violation is not None and "i={'ok': False}" in violation


def test_runtime_errors_become_violations() -> None:
    violation = compile_expression("result.nope > 1").check({"passed": 1})
    assert violation is not None and "no field 'nope'" in violation


ESCAPES = [
    # attribute chains to the interpreter's internals
    "().__class__.__bases__[0].__subclasses__()",
    "result.__class__",
    "result.__class__.__mro__[1].__subclasses__()",
    "''.__class__.__mro__[-1].__subclasses__()",
    "(1).__class__.__base__",
    "result._private",
    "[].__class__.__base__.__subclasses__()",
    "result.items.__len__()",
    # str.format / % walking attributes or reaching __globals__
    "'{0.__class__.__mro__}'.format(result)",
    "'{.__init__.__globals__}'.format(result)",
    "result.name.format(result)",
    "('__cla' + 'ss__')",  # harmless on its own, but no route exists to use it:
    "getattr(result, '__cla' + 'ss__')",
    "getattr(result, 'name')",
    "vars(result)",
    "type(result)",
    "eval('1')",
    "exec('1')",
    "compile('1', '', 'eval')",
    "__import__('os').system('id')",
    "__builtins__",
    "globals()",
    "locals()",
    "open('/etc/passwd')",
    "print(1)",
    "breakpoint()",
    "memoryview(b'')",
    # syntax outside the subset
    "lambda: 1",
    "(lambda: 1)()",
    "(x := 1)",
    "[x for x in result.items]",
    "{x for x in result.items}",
    "{x: 1 for x in result.items}",
    "{'a': 1}",
    "{1, 2}",
    "f'{result.__class__}'",
    "f'{result}'",
    "b'bytes'",
    "import os",
    "await result",
    "yield 1",
    "result.passed; 1",
    "1 << 100000",
    "~result.passed",
    "result.passed @ result.total",
    "*result.items",
    "all(x for x in result.items for y in result.items)",
    "len(*result.items)",
    "max(result.tags, key=len)",
    "len",
    "(result for result in result.items)",
    "x",
    "_",
    "result.name.replace('a', 'b')",
    "result.name.join(result.tags)",
    "result.name.encode()",
    "result.name.__add__('x')",
    "",
    "   ",
    "1 +",
    "x" * 5000,
]


@pytest.mark.parametrize("source", ESCAPES)
def test_escape_corpus_is_rejected_before_evaluation(source: str) -> None:
    if source == "('__cla' + 'ss__')":
        # The string itself is data; what matters is that nothing can use it as a name.
        assert compile_expression(source).evaluate(RESULT) == "__class__"
        return
    with pytest.raises(ExpressionError):
        compile_expression(source)


@pytest.mark.parametrize(
    "source",
    [
        "9**9**9",
        "9**9**9 > 0",
        "10**10000",
        "2**100000",
        "(10**600) * (10**600) * (10**600)",
        "'a' * 10**9",
        "[1] * 10**9",
        "'ab' * 100000 + 'x'",
        "result.tags * 10**8",
        "len('x' * 100001)",
        "1e308 * 10",
        "1 / 0",
        "1 % 0",
        "round(1.5, 10**6)",
        "all(all(all(1 for c in result.tags * 300) for b in result.tags * 300) for a in result.tags * 300)",
        "min([])",
        "sum(result.tags)",
        "result.passed < 'x'",
        "result.items[99]",
        "result.name[1.5]",
        "'%s' % result",
        "result.name.startswith",
        "'{0.__class__}' % result.name",
    ],
)
def test_resource_bombs_and_type_errors_fail_with_the_evaluator_error(source: str) -> None:
    expr = compile_expression(source)
    with pytest.raises(ExpressionError):
        expr.evaluate(RESULT)


_ATOMS = st.sampled_from([
    "result", "result.passed", "result.items", "result.name", "result.tags", "result.__class__", "true", "null",
    "1", "0", "-1", "9", "2.5", "'a'", "'__globals__'", "[]", "[1, 2]", "x", "len", "__import__",
])
_OPS = st.sampled_from([
    "+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", ">=", " and ", " or ", " in ", " not in ", " is ", ".", "[", "(",
])


@st.composite
def _exprs(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 4 or draw(st.booleans()):
        return draw(_ATOMS)
    kind = draw(st.integers(0, 6))
    left = draw(_exprs(depth + 1))
    right = draw(_exprs(depth + 1))
    if kind == 0:
        return f"({left}){draw(_OPS)}({right})"
    if kind == 1:
        return f"{draw(st.sampled_from(['len', 'all', 'any', 'min', 'max', 'sum', 'abs', 'round', 'getattr', 'type']))}({left})"
    if kind == 2:
        return f"({left})[{right}]"
    if kind == 3:
        return f"all({left} for x in {right})"
    if kind == 4:
        return f"({left}).{draw(st.sampled_from(['startswith', 'lower', 'format', '__class__', 'name', 'mro']))}({right})"
    if kind == 5:
        return f"not {left}"
    return f"({left}) if ({right}) else ({left})"


def _bounded(value: Any) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        assert value.bit_length() <= MAX_INT_BITS + 64
    elif isinstance(value, (str, list)):
        assert len(value) <= MAX_SEQUENCE  # pyright: ignore[reportUnknownArgumentType]
    elif isinstance(value, float):
        return
    elif isinstance(value, dict):
        return
    else:
        raise AssertionError(f"evaluator produced a {type(value).__name__}")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_exprs())
def test_fuzzed_grammar_only_raises_the_evaluator_error(source: str) -> None:
    try:
        expr = compile_expression(source)
        _bounded(expr.evaluate(RESULT))
        expr.check(RESULT)
    except ExpressionError:
        pass


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("result.__class__()[]'\"+*-/%<>=! 0123456789aefglnorstx,:{}\\\n#@~")), max_size=60))
def test_fuzzed_text_only_raises_the_evaluator_error(source: str) -> None:
    try:
        expr = compile_expression(source)
        _bounded(expr.evaluate(RESULT))
    except ExpressionError:
        pass
