"""A whitelisting evaluator for plan `ensure` expressions.

Plans come from a coding agent, so an `ensure` string is untrusted text. It is parsed with
`ast` and interpreted node by node here; `eval` is never called and no Python attribute is ever
looked up. `result.field` reads a key of the reported JSON value, and the few string methods
allowed (`startswith`, `lower`...) go through an explicit table. Every value an expression can
hold is JSON-like data, so there is no object to escape through: no `__class__`, no
`__globals__`, no `format` that walks attributes.

Work is bounded: source length, node count, evaluation steps, wall-clock time, and the size of
every int, string and list an operator creates, nested items included (so `9**9**9`,
`"a" * 10**9` and `[[0] * 100000] * 100000 == ...` fail fast with an `ExpressionError` instead of
running).

`file_exists(path)` and `file_contains(path, text)` read the project the plan runs in: the path
is relative to the project root, and anything that would leave it (an absolute path, `..`, a
symbolic link pointing out) is an error; reads are capped at `MAX_FILE_BYTES`.
"""

from __future__ import annotations

import ast
import json
import math
import reprlib
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from stratum.exceptions import StratumError

__all__ = ("Expression", "ExpressionError", "check_expression", "compile_expression")

MAX_SOURCE_CHARS = 2_000
"""Longest accepted expression text."""
MAX_NODES = 300
"""Most AST nodes in one expression."""
MAX_STEPS = 100_000
"""Most node evaluations (including generator iterations) in one evaluation."""
MAX_INT_BITS = 4_096
"""Largest int an operator may produce (about 1,200 decimal digits)."""
MAX_SEQUENCE = 100_000
"""Longest string or list an operator may produce."""
MAX_ROUND_DIGITS = 20
"""Largest `ndigits` accepted by `round`."""
MAX_SECONDS = 1.0
"""Wall-clock bound on one evaluation."""
MAX_FILE_BYTES = 1_000_000
"""Largest file `file_contains` reads."""

_CONSTANT_NAMES: Mapping[str, Any] = MappingProxyType({
    "true": True, "false": False, "null": None, "True": True, "False": False, "None": None,
})
_FUNCTIONS = frozenset({
    "len", "all", "any", "min", "max", "sum", "abs", "round", "int", "float", "str", "bool",
    "file_exists", "file_contains",
})
_STR_METHODS: Mapping[str, Callable[..., Any]] = MappingProxyType({
    "startswith": str.startswith,
    "endswith": str.endswith,
    "lower": str.lower,
    "upper": str.upper,
    "strip": str.strip,
    "isdigit": str.isdigit,
})
_ROOT = "result"

_repr = reprlib.Repr()
_repr.maxstring = 80
_repr.maxother = 80
_repr.maxlist = 8
_repr.maxdict = 8
_repr.maxlevel = 3


class ExpressionError(StratumError):
    """An `ensure` expression is outside the safe subset, or failed while evaluating.

    Attributes:
        expression: the expression text.
    """

    def __init__(self, message: str, *, expression: str) -> None:
        super().__init__(message)
        self.expression = expression


def _json_repr(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return _repr.repr(value)


# ---------------------------------------------------------------------------------------------
# Static check: every node must be on the whitelist.


@dataclass(frozen=True, slots=True)
class Expression:
    """A checked `ensure` expression, ready to evaluate against step results."""

    source: str
    tree: ast.Expression
    names: tuple[str, ...] = (_ROOT,)

    def evaluate(self, result: Any = None, *, root: Path | None = None, scope: Mapping[str, Any] | None = None) -> Any:
        """Evaluate against `result` (JSON-like data); raises `ExpressionError` on any failure.

        Args:
            result: the value of `result`.
            root: the project root `file_exists`/`file_contains` read under (None: they fail).
            scope: values of the other names the expression was compiled with.
        """
        return _materialize(_Evaluator(self.source, self._scope(result, scope), root=root).run(self.tree.body))

    def check(self, result: Any, *, root: Path | None = None, label: str = "ensure") -> str | None:
        """Return None when the expression holds, else a violation naming the values it read."""
        evaluator = _Evaluator(self.source, self._scope(result, None), root=root, record=True)
        try:
            value = evaluator.run(self.tree.body)
        except ExpressionError as exc:
            return f"{label}: {self.source} (error: {exc})"
        value = _materialize(value)
        if _truthy(value):
            return None
        seen: dict[str, str] = {}
        for text, observed in evaluator.observed:
            seen.setdefault(text, _json_repr(observed))
        actual = ", ".join(f"{k}={v}" for k, v in seen.items())
        if value is not False:
            actual = (actual + ", " if actual else "") + f"value={_json_repr(value)}"
        return f"{label}: {self.source}" + (f" (actual: {actual})" if actual else "")

    def _scope(self, result: Any, scope: Mapping[str, Any] | None) -> dict[str, Any]:
        out = {name: None for name in self.names}
        out.update(scope or {})
        if _ROOT in self.names:
            out[_ROOT] = result
        return out


def compile_expression(source: object, *, names: Collection[str] = (_ROOT,)) -> Expression:
    """Parse and whitelist-check an `ensure` expression.

    Raises:
        ExpressionError: the text is not a string, does not parse, is too large, or uses
            anything outside the safe subset.
    """
    if not isinstance(source, str):
        raise ExpressionError(
            f"an ensure expression must be a string, got {type(source).__name__}; "
            "write it like 'result.passed == result.total'",
            expression=repr(source),
        )
    text = source.strip()
    if not text:
        raise ExpressionError("empty ensure expression; write a condition over `result`", expression=source)
    if len(text) > MAX_SOURCE_CHARS:
        raise ExpressionError(
            f"ensure expression is {len(text)} characters, over the {MAX_SOURCE_CHARS} limit; "
            "split it into several ensure entries",
            expression=text[:80],
        )
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        detail = exc.msg if isinstance(exc, SyntaxError) else type(exc).__name__
        raise ExpressionError(
            f"ensure expression does not parse ({detail}); it must be a Python-style "
            "expression over `result`, e.g. 'len(result.items) > 0'",
            expression=text,
        ) from None
    _Checker(text, frozenset(names)).check(tree)
    return Expression(text, tree, tuple(names))


def check_expression(source: object) -> str | None:
    """Return None when `source` is a valid ensure expression, else the reason it is not."""
    try:
        compile_expression(source)
    except ExpressionError as exc:
        return str(exc)
    return None


_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Is, ast.IsNot, ast.IfExp, ast.Constant, ast.Name, ast.Load, ast.Attribute,
    ast.Subscript, ast.Slice, ast.List, ast.Tuple, ast.Call, ast.GeneratorExp,
    ast.comprehension, ast.Store,
)


class _Checker:
    def __init__(self, source: str, names: frozenset[str]) -> None:
        self.source = source
        self.names = names
        self.nodes = 0

    def fail(self, message: str) -> ExpressionError:
        return ExpressionError(message, expression=self.source)

    def check(self, tree: ast.Expression) -> None:
        for node in ast.walk(tree):
            self.nodes += 1
            if self.nodes > MAX_NODES:
                raise self.fail(f"ensure expression has over {MAX_NODES} syntax nodes; simplify it")
            if not isinstance(node, _ALLOWED_NODES):
                raise self.fail(
                    f"{type(node).__name__} is not allowed in ensure expressions; use comparisons, "
                    "boolean logic, arithmetic, literals, result fields and "
                    f"{'/'.join(sorted(_FUNCTIONS))}"
                )
            self._check_node(node)
        self._check_scopes(tree.body, frozenset())

    def _check_node(self, node: ast.AST) -> None:
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, (str, int, float, bool, type(None))):
                raise self.fail(f"literal {type(node.value).__name__} is not allowed in ensure expressions")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise self.fail(
                    f"attribute {node.attr!r} is private; ensure expressions read public result fields only"
                )
        elif isinstance(node, ast.Name):
            if node.id.startswith("_"):
                raise self.fail(f"name {node.id!r} is not allowed; names starting with '_' are private")
        elif isinstance(node, ast.Call):
            if node.keywords:
                raise self.fail("keyword arguments are not allowed in ensure expressions")
            if any(isinstance(a, ast.Starred) for a in node.args):
                raise self.fail("*args are not allowed in ensure expressions")
            func = node.func
            if isinstance(func, ast.Name):
                if func.id not in _FUNCTIONS:
                    raise self.fail(
                        f"call to {func.id!r} is not allowed; ensure expressions may call "
                        f"{', '.join(sorted(_FUNCTIONS))} only"
                    )
            elif isinstance(func, ast.Attribute):
                if func.attr not in _STR_METHODS:
                    raise self.fail(
                        f"method {func.attr!r} is not allowed; string methods allowed: "
                        f"{', '.join(sorted(_STR_METHODS))}"
                    )
            else:
                raise self.fail("only named functions may be called in ensure expressions")
        elif isinstance(node, ast.GeneratorExp):
            if len(node.generators) != 1:
                raise self.fail("nested generator loops are not allowed in ensure expressions")
            gen = node.generators[0]
            if gen.is_async or not isinstance(gen.target, ast.Name):
                raise self.fail("a generator must be `... for name in iterable` with one plain name")
            if gen.target.id in _CONSTANT_NAMES or gen.target.id in _FUNCTIONS or gen.target.id in self.names:
                raise self.fail(f"loop variable {gen.target.id!r} would shadow a reserved name")

    def _check_scopes(self, node: ast.AST, bound: frozenset[str]) -> None:
        """Every free name must be `result`, a constant, a loop variable in scope, or a callee."""
        if isinstance(node, ast.GeneratorExp):
            gen = node.generators[0]
            self._check_scopes(gen.iter, bound)
            inner = bound | {cast(ast.Name, gen.target).id}
            for cond in gen.ifs:
                self._check_scopes(cond, inner)
            self._check_scopes(node.elt, inner)
            return
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute):
                self._check_scopes(node.func.value, bound)
            for arg in node.args:
                self._check_scopes(arg, bound)
            return
        if isinstance(node, ast.Name):
            if node.id not in self.names and node.id not in _CONSTANT_NAMES and node.id not in bound:
                hint = " (functions must be called)" if node.id in _FUNCTIONS else ""
                readable = ", ".join(f"`{n}`" for n in sorted(self.names))
                raise self.fail(
                    f"unknown name {node.id!r}{hint}; this expression reads {readable} "
                    "and the constants true/false/null"
                )
            return
        for child in ast.iter_child_nodes(node):
            self._check_scopes(child, bound)


# ---------------------------------------------------------------------------------------------
# Evaluation.

_Number = (int, float)


class _Evaluator:
    def __init__(self, source: str, scope: dict[str, Any], *, root: Path | None = None, record: bool = False) -> None:
        self.source = source
        self.scope = scope
        self.roots = frozenset(scope)
        self.root = root
        self.deadline = time.monotonic() + MAX_SECONDS
        self.steps = 0
        self.record = record
        self.observed: list[tuple[str, Any]] = []
        self.quiet = 0  # > 0 inside generator bodies, whose per-item reads would flood a violation

    def fail(self, message: str) -> ExpressionError:
        return ExpressionError(message, expression=self.source)

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise self.fail(f"evaluation took over {MAX_STEPS} steps; simplify the expression")
        if not self.steps % 256 and time.monotonic() > self.deadline:
            raise self.fail(f"evaluation took over {MAX_SECONDS}s; simplify the expression")

    def run(self, node: ast.expr) -> Any:
        try:
            return self.eval(node)
        except ExpressionError:
            raise
        except RecursionError:
            raise self.fail("expression nests too deeply") from None
        except (ArithmeticError, TypeError, ValueError, MemoryError) as exc:
            raise self.fail(f"{type(exc).__name__}: {exc}") from None

    def note(self, node: ast.expr, value: Any) -> Any:
        if self.record and not self.quiet and len(self.observed) < 32:
            text = ast.get_source_segment(self.source, node)
            if text is not None:
                self.observed.append((text, value))
        return value

    def eval(self, node: ast.expr) -> Any:
        self.tick()
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.scope:
                value = self.scope[node.id]
                return self.note(node, value) if node.id not in self.roots else value
            return _CONSTANT_NAMES[node.id]
        if isinstance(node, ast.Attribute):
            return self.note(node, self.field(self.eval(node.value), node.attr))
        if isinstance(node, ast.Subscript):
            return self.note(node, self.subscript(node))
        if isinstance(node, ast.BoolOp):
            value: Any = None
            for operand in node.values:
                value = self.eval(operand)
                if isinstance(node.op, ast.And) and not _truthy(value):
                    return value
                if isinstance(node.op, ast.Or) and _truthy(value):
                    return value
            return value
        if isinstance(node, ast.UnaryOp):
            operand = self.eval(node.operand)
            if isinstance(node.op, ast.Not):
                return not _truthy(operand)
            if not isinstance(operand, _Number):
                raise self.fail(f"unary {'-' if isinstance(node.op, ast.USub) else '+'} needs a number")
            return -operand if isinstance(node.op, ast.USub) else +operand
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.eval(node.left), self.eval(node.right))
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.IfExp):
            return self.eval(node.body) if _truthy(self.eval(node.test)) else self.eval(node.orelse)
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [_materialize(self.eval(e)) for e in node.elts]
            self.size(_weight(items))
            return items
        if isinstance(node, ast.Call):
            return self.note(node, self.call(node))
        if isinstance(node, ast.GeneratorExp):
            return _Lazy(self, node)
        raise self.fail(f"{type(node).__name__} is not allowed")  # unreachable after the check

    def field(self, value: Any, name: str) -> Any:
        if isinstance(value, Mapping):
            mapping = cast(Mapping[str, Any], value)
            if name in mapping:
                return mapping[name]
            keys = ", ".join(sorted(str(k) for k in mapping)[:12])
            raise self.fail(f"result has no field {name!r} (fields: {keys or 'none'})")
        raise self.fail(f"cannot read field {name!r} of a {_kind(value)}")

    def subscript(self, node: ast.Subscript) -> Any:
        value = self.eval(node.value)
        if isinstance(node.slice, ast.Slice):
            parts = [None if p is None else self.eval(p) for p in (node.slice.lower, node.slice.upper, node.slice.step)]
            if not all(p is None or (isinstance(p, int) and not isinstance(p, bool)) for p in parts):
                raise self.fail("slice bounds must be integers")
            if not isinstance(value, (str, list)):
                raise self.fail(f"cannot slice a {_kind(value)}")
            seq = cast("str | list[Any]", value)
            return seq[slice(*parts)]
        key = self.eval(node.slice)
        if isinstance(value, Mapping):
            mapping = cast(Mapping[Any, Any], value)
            if not isinstance(key, str) or key not in mapping:
                raise self.fail(f"result has no key {_json_repr(key)}")
            return mapping[key]
        if isinstance(value, (list, str)):
            seq = cast("str | list[Any]", value)
            if not isinstance(key, int) or isinstance(key, bool):
                raise self.fail(f"index must be an integer, got {_kind(key)}")
            if not -len(seq) <= key < len(seq):
                raise self.fail(f"index {key} out of range for length {len(seq)}")
            return seq[key]
        raise self.fail(f"cannot index a {_kind(value)}")

    def binop(self, op: ast.operator, left: Any, right: Any) -> Any:
        left, right = _materialize(left), _materialize(right)
        if isinstance(op, ast.Add):
            if (isinstance(left, str) and isinstance(right, str)) or (isinstance(left, list) and isinstance(right, list)):
                seq_l = cast(Any, left)  # both strings or both lists, checked above
                seq_r = cast(Any, right)
                self.size(_weight(seq_l) + _weight(seq_r))
                return seq_l + seq_r
            return self.numeric(op, left, right)
        if isinstance(op, ast.Mult):
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, (str, list)) and isinstance(count, int) and not isinstance(count, bool):
                    items = cast("str | list[Any]", seq)
                    self.size(_weight(items) * max(count, 0))
                    return items * count
            return self.numeric(op, left, right)
        if isinstance(op, ast.Pow):
            if not (isinstance(left, _Number) and isinstance(right, _Number)):
                raise self.fail("** needs numbers")
            if isinstance(left, int) and isinstance(right, int):
                if right < 0:
                    return float(left) ** right
                bits = max(abs(left).bit_length(), 1) * right
                if bits > MAX_INT_BITS and abs(left) > 1:
                    raise self.fail(f"** result would exceed {MAX_INT_BITS} bits")
                return left**right
            result = float(left) ** float(right)
            if isinstance(result, complex):
                raise self.fail("** produced a complex number")
            return result
        return self.numeric(op, left, right)

    def numeric(self, op: ast.operator, left: Any, right: Any) -> Any:
        if not (isinstance(left, _Number) and isinstance(right, _Number)):
            raise self.fail(f"{_OP_TEXT.get(type(op), '?')} needs numbers, got {_kind(left)} and {_kind(right)}")
        if isinstance(op, ast.Add):
            value = left + right
        elif isinstance(op, ast.Sub):
            value = left - right
        elif isinstance(op, ast.Mult):
            if isinstance(left, int) and isinstance(right, int):
                if abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
                    raise self.fail(f"* result would exceed {MAX_INT_BITS} bits")
            value = left * right
        elif isinstance(op, ast.Div):
            value = left / right
        elif isinstance(op, ast.FloorDiv):
            value = left // right
        elif isinstance(op, ast.Mod):
            value = left % right
        else:
            raise self.fail("operator not allowed")
        if isinstance(value, float) and math.isinf(value):
            raise self.fail("arithmetic overflowed to infinity")
        return value

    def size(self, n: int) -> None:
        if n > MAX_SEQUENCE:
            raise self.fail(f"result would hold {n} items, over the {MAX_SEQUENCE} limit")

    def compare(self, node: ast.Compare) -> bool:
        left = _materialize(self.eval(node.left))
        for op, comparator in zip(node.ops, node.comparators):
            right = _materialize(self.eval(comparator))
            if not self.compare_one(op, left, right):
                return False
            left = right
        return True

    def compare_one(self, op: ast.cmpop, left: Any, right: Any) -> bool:
        if isinstance(op, ast.Eq):
            return _equal(left, right)
        if isinstance(op, ast.NotEq):
            return not _equal(left, right)
        if isinstance(op, ast.Is):
            return left is right if right is None or isinstance(right, bool) else _equal(left, right)
        if isinstance(op, ast.IsNot):
            return not self.compare_one(ast.Is(), left, right)
        if isinstance(op, (ast.In, ast.NotIn)):
            if isinstance(right, str):
                if not isinstance(left, str):
                    raise self.fail(f"`in` a string needs a string, got {_kind(left)}")
                found = left in right
            elif isinstance(right, Mapping):
                found = left in cast(Mapping[Any, Any], right)
            elif isinstance(right, list):
                found = any(_equal(left, item) for item in cast(list[Any], right))
            else:
                raise self.fail(f"`in` needs a string, list or object on the right, got {_kind(right)}")
            return found if isinstance(op, ast.In) else not found
        ordered = (isinstance(left, _Number) and isinstance(right, _Number)) or (
            isinstance(left, str) and isinstance(right, str)
        )
        if not ordered:
            raise self.fail(f"cannot order {_kind(left)} and {_kind(right)}")
        a: Any = left  # both numbers or both strings, checked above
        b: Any = right
        if isinstance(op, ast.Lt):
            return bool(a < b)
        if isinstance(op, ast.LtE):
            return bool(a <= b)
        if isinstance(op, ast.Gt):
            return bool(a > b)
        return bool(a >= b)

    def call(self, node: ast.Call) -> Any:
        func = node.func
        if isinstance(func, ast.Attribute):
            target = _materialize(self.eval(func.value))
            if not isinstance(target, str):
                raise self.fail(f"{func.attr}() is a string method; got a {_kind(target)}")
            args = [_materialize(self.eval(a)) for a in node.args]
            if func.attr in ("startswith", "endswith"):
                if len(args) != 1 or not (
                    isinstance(args[0], str) or (isinstance(args[0], list) and all(isinstance(a, str) for a in cast(list[Any], args[0])))
                ):
                    raise self.fail(f"{func.attr}() takes one string (or a list of strings)")
                prefix = args[0] if isinstance(args[0], str) else tuple(cast(list[str], args[0]))
                return _STR_METHODS[func.attr](target, prefix)
            if func.attr == "strip" and len(args) == 1 and isinstance(args[0], str):
                return target.strip(args[0])
            if args:
                raise self.fail(f"{func.attr}() takes no arguments")
            return _STR_METHODS[func.attr](target)
        name = cast(ast.Name, func).id
        args = [self.eval(a) for a in node.args]
        if name in ("all", "any"):
            if len(args) != 1:
                raise self.fail(f"{name}() takes one iterable")
            want = name == "any"
            for item in self.iterate(args[0]):
                if _truthy(item) == want:
                    if not want and isinstance(args[0], _Lazy):
                        # all() failed: show the item that broke it, not every item read.
                        target = cast(ast.Name, args[0].node.generators[0].target).id
                        self.note(args[0].node.generators[0].target, self.scope.get(target))
                    return want
            return not want
        values = [_materialize(a) for a in args]
        if name in _CONVERSIONS:
            if len(values) != 1:
                raise self.fail(f"{name}() takes one value")
            return _CONVERSIONS[name](self, values[0])
        if name in ("file_exists", "file_contains"):
            return self.file_call(name, values)
        if name == "len":
            if len(values) != 1 or not isinstance(values[0], (str, list, Mapping)):
                raise self.fail("len() takes one string, list or object")
            return len(cast("str | list[Any] | Mapping[Any, Any]", values[0]))
        if name == "abs":
            if len(values) != 1 or not isinstance(values[0], _Number):
                raise self.fail("abs() takes one number")
            return abs(values[0])
        if name == "round":
            if not 1 <= len(values) <= 2 or not isinstance(values[0], _Number):
                raise self.fail("round() takes a number and optional digits")
            if len(values) == 1:
                return round(values[0])
            digits = values[1]
            if not isinstance(digits, int) or isinstance(digits, bool) or abs(digits) > MAX_ROUND_DIGITS:
                raise self.fail(f"round() digits must be an integer within ±{MAX_ROUND_DIGITS}")
            return round(values[0], digits)
        items = self.items_of(values, name)
        if name == "sum":
            total: Any = 0
            for item in items:
                self.tick()
                total = self.numeric(ast.Add(), total, item)
            return total
        if not items:
            raise self.fail(f"{name}() of an empty sequence")
        if not (all(isinstance(i, _Number) for i in items) or all(isinstance(i, str) for i in items)):
            raise self.fail(f"{name}() needs all numbers or all strings")
        return min(items) if name == "min" else max(items)

    def file_call(self, name: str, values: Sequence[Any]) -> bool:
        want = 1 if name == "file_exists" else 2
        if len(values) != want or not all(isinstance(v, str) for v in values):
            raise self.fail("file_exists(path) takes a path string" if want == 1 else "file_contains(path, text) takes two strings")
        path = self.project_path(cast(str, values[0]))
        if name == "file_exists":
            return path.exists()
        if not path.is_file():
            return False
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise self.fail(f"file_contains: {values[0]} is {size} bytes, over the {MAX_FILE_BYTES} byte limit")
        with path.open("rb") as handle:
            text = handle.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")
        return cast(str, values[1]) in text

    def project_path(self, text: str) -> Path:
        if self.root is None:
            raise self.fail("file checks need a project root; none is set here")
        if not text or "\x00" in text:
            raise self.fail("a file path must be a non-empty string")
        relative = Path(text)
        if relative.is_absolute() or relative.drive:
            raise self.fail(f"{text!r} is absolute; file checks take paths relative to the project root")
        if ".." in relative.parts:
            raise self.fail(f"{text!r} contains '..'; file checks stay inside the project root")
        root = self.root.resolve()
        try:
            resolved = (root / relative).resolve()
        except (OSError, RuntimeError) as exc:
            raise self.fail(f"{text!r} cannot be resolved ({type(exc).__name__})") from None
        if not resolved.is_relative_to(root):
            raise self.fail(f"{text!r} leads outside the project root (a symbolic link pointing out?)")
        return resolved

    def items_of(self, values: Sequence[Any], name: str) -> list[Any]:
        if len(values) == 1:
            if not isinstance(values[0], list):
                raise self.fail(f"{name}() takes a list or several values, got a {_kind(values[0])}")
            return list(cast(list[Any], values[0]))
        if name == "sum":
            raise self.fail("sum() takes one list")
        return list(values)

    def iterate(self, value: Any) -> Any:
        if isinstance(value, _Lazy):
            return value.iterate()
        if isinstance(value, (list, str)):
            return iter(cast("list[Any] | str", value))
        if isinstance(value, Mapping):
            return iter(cast(Mapping[Any, Any], value))
        raise self.fail(f"cannot iterate over a {_kind(value)}")


class _Lazy:
    """A generator expression: iterated by `all`/`any` (which stop early) or materialized."""

    __slots__ = ("evaluator", "node")

    def __init__(self, evaluator: _Evaluator, node: ast.GeneratorExp) -> None:
        self.evaluator = evaluator
        self.node = node

    def iterate(self) -> Any:
        ev = self.evaluator
        gen = self.node.generators[0]
        name = cast(ast.Name, gen.target).id
        source = ev.iterate(_materialize(ev.eval(gen.iter)))
        previous = ev.scope.get(name, _MISSING)
        try:
            for item in source:
                ev.tick()
                ev.scope[name] = item
                ev.quiet += 1
                try:
                    keep = all(_truthy(ev.eval(cond)) for cond in gen.ifs)
                    value = ev.eval(self.node.elt) if keep else None
                finally:
                    ev.quiet -= 1
                if keep:
                    yield value
        finally:
            if previous is _MISSING:
                ev.scope.pop(name, None)
            else:
                ev.scope[name] = previous

    def materialize(self) -> list[Any]:
        out: list[Any] = []
        weight = 0
        for item in self.iterate():
            out.append(item)
            weight += 1 + _weight(item)
            self.evaluator.size(weight)
        return out


_MISSING = object()


def _materialize(value: Any) -> Any:
    return value.materialize() if isinstance(value, _Lazy) else value


def _truthy(value: Any) -> bool:
    if isinstance(value, _Lazy):
        return True
    return bool(value)


def _weight(value: Any, cap: int = MAX_SEQUENCE + 1) -> int:
    """Items in `value`, nested items included (each string counts its characters), up to `cap`.

    A comparison or copy costs time in proportion to this, so bounding it bounds `==` and `in`
    even over lists that share one inner list many times.
    """
    total = 0
    stack: list[Any] = [value]
    while stack and total < cap:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, list):
            items = cast(list[Any], item)
            total += len(items)
            stack.extend(items)
        elif isinstance(item, Mapping):
            mapping = cast(Mapping[Any, Any], item)
            total += len(mapping)
            stack.extend(mapping.values())
    return total


def _to_int(ev: _Evaluator, value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ev.fail("int() of a non-finite number")
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and len(value.strip()) <= 1_000:
        try:
            return int(value.strip())
        except ValueError:
            raise ev.fail(f"int() cannot read {_json_repr(value)}") from None
    raise ev.fail(f"int() takes a number or a short numeric string, got {_kind(value)}")


def _to_float(ev: _Evaluator, value: Any) -> float:
    if isinstance(value, (int, float)) and not (isinstance(value, int) and abs(value).bit_length() > 1_000):
        return float(value)
    if isinstance(value, str) and len(value.strip()) <= 1_000:
        try:
            return float(value.strip())
        except ValueError:
            raise ev.fail(f"float() cannot read {_json_repr(value)}") from None
    raise ev.fail(f"float() takes a number or a short numeric string, got {_kind(value)}")


def _to_str(ev: _Evaluator, value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool):
        return _json_repr(value)
    if isinstance(value, (int, float)):
        return str(value)
    ev.size(_weight(value))
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _to_bool(ev: _Evaluator, value: Any) -> bool:
    del ev
    return _truthy(value)


_CONVERSIONS: Mapping[str, Callable[[_Evaluator, Any], Any]] = MappingProxyType({
    "int": _to_int, "float": _to_float, "str": _to_str, "bool": _to_bool,
})


def _equal(left: Any, right: Any) -> bool:
    # JSON has no bool/int distinction problems in practice, but `true == 1` should stay false.
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    return bool(left == right)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, _Number):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return "generator" if isinstance(value, _Lazy) else type(value).__name__


_OP_TEXT: Mapping[type[ast.operator], str] = MappingProxyType({
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
})
