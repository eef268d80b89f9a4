"""`@refine`: an outer convergence loop around an `@infer` call (SPEC §2.4, §3.3).

Each iteration is a full `@infer` call (attempt loop, ensure, retries). When `until(result)`
is false, `feedback(result)` is computed in the host process and sent in the next iteration's
prompt as a retry section; nothing else from earlier iterations is replayed. Every iteration
draws from the current envelope, and when the `@infer` declares its own `budget`, that budget
bounds the whole loop (one envelope for all iterations).
"""

from __future__ import annotations

import dis
import inspect
import json
import types
from collections.abc import Callable, Mapping
from typing import Any, Generic, ParamSpec, TypeVar

from stratum._compose.members import pooled, spec_parent
from stratum._runtime.call import run_stub
from stratum._runtime.decorators import InferFunction
from stratum._runtime.routing import own_model, route_for
from stratum._runtime.spec import InferSpec
from stratum._util.jsonable import to_jsonable
from stratum.exceptions import ConvergenceFailure, StratumCompileError

__all__ = ("RefineFunction", "refine")

P = ParamSpec("P")
R = TypeVar("R")

_MAX_DEPTH = 3
"""How deep helper functions called by `until`/`feedback` are searched for `@infer` calls."""


def _loads(code: types.CodeType) -> tuple[set[str], set[str]]:
    """The global names and the attribute names `code` (and code nested in it) loads."""
    globals_: set[str] = set()
    attrs: set[str] = set()
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            globals_.add(str(ins.argval))
        elif ins.opname in ("LOAD_ATTR", "LOAD_METHOD"):
            attrs.add(str(ins.argval))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            inner_globals, inner_attrs = _loads(const)
            globals_ |= inner_globals
            attrs |= inner_attrs
    return globals_, attrs


def infer_references(fn: Any, *, depth: int = 0, seen: set[int] | None = None) -> list[str]:
    """Names of `@infer` functions that `fn` (or a plain helper it calls) can reach."""
    seen = set() if seen is None else seen
    if not isinstance(fn, types.FunctionType) or id(fn) in seen or depth > _MAX_DEPTH:
        return []
    seen.add(id(fn))
    names, attrs = _loads(fn.__code__)
    candidates: list[tuple[str, Any]] = [(n, fn.__globals__[n]) for n in names if n in fn.__globals__]
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=False):
        try:
            candidates.append((name, cell.cell_contents))
        except ValueError:  # an empty cell: the variable is not assigned yet
            continue
    candidates.extend((f"<default {i}>", value) for i, value in enumerate(fn.__defaults__ or ()))
    found: list[str] = []
    for name, obj in candidates:
        if isinstance(obj, InferFunction):
            found.append(name)
        elif isinstance(obj, types.ModuleType):
            found.extend(f"{name}.{attr}" for attr in attrs if isinstance(getattr(obj, attr, None), InferFunction))
        elif isinstance(obj, types.FunctionType):
            found.extend(infer_references(obj, depth=depth + 1, seen=seen))
    return found


def _check_pure(where: str, role: str, fn: Callable[..., Any]) -> None:
    refs = infer_references(fn)
    if refs:
        raise StratumCompileError(
            f"{where}: {role} calls the @infer function(s) {', '.join(sorted(set(refs)))}; until/feedback must be "
            "deterministic host code. Move the LLM call into the flow, or check with @compute code"
        )


def feedback_section(feedback: Any) -> str:
    """The retry section of the next iteration: the feedback, and what to do with it."""
    if isinstance(feedback, str):
        listed = f"- {feedback}"
    elif isinstance(feedback, list | tuple):
        items: list[Any] = list(feedback)  # pyright: ignore[reportUnknownArgumentType]
        listed = "\n".join(f"- {item if isinstance(item, str) else json.dumps(to_jsonable(item), default=str)}" for item in items)
    else:
        listed = f"- {json.dumps(to_jsonable(feedback), default=str, sort_keys=True)}"
    return f"Previous output had the following issues:\n{listed}\nFix these and regenerate."


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class RefineFunction(InferFunction[P, R], Generic[P, R]):
    """What `@refine` returns: an `@infer` function whose call runs the refine loop.

    It keeps the signature and result type of the `@infer` function it wraps, and is itself
    an `InferFunction`, so `stub(refined, ...)` replaces the whole loop while `stub(inner, ...)`
    (via `.inner`) answers each iteration.
    """

    def __init__(
        self,
        inner: InferFunction[P, R],
        *,
        until: Callable[[Any], Any],
        feedback: Callable[[Any], Any],
        max_iterations: int,
    ) -> None:
        super().__init__(inner.spec)
        self.inner = inner
        self.until = until
        self.feedback = feedback
        self.max_iterations = max_iterations
        self._checked = False
        self.is_plain = False  # every call runs the refine loop below

    async def run(
        self,
        spec: InferSpec,
        bound: Mapping[str, Any],
        model: Any,
        extra_sections: tuple[str, ...] = (),
        meta: Mapping[str, Any] | None = None,
    ) -> Any:
        """The refine loop: each iteration is a whole call of the inner `@infer` declaration."""
        if not self._checked:
            # Again at the first call: helpers defined below the decorator exist by now.
            where = f"@refine {spec.qualname!r}"
            _check_pure(where, "until", self.until)
            _check_pure(where, "feedback", self.feedback)
            self._checked = True
        inner_stub, inner_model = route_for(self.inner)
        own = own_model(self)
        model = own if own is not None else inner_model if inner_model is not None else model
        history: list[Any] = []
        info = {**(meta or {}), "kind": "refine", "max_iterations": self.max_iterations}
        inputs = {name: bound[name] for name in spec.params if name in bound}
        with spec_parent(spec, bound, model, info) as parent, pooled(spec) as member:
            sections: tuple[str, ...] = ()
            for iteration in range(1, self.max_iterations + 1):
                step = {"kind": "refine", "iteration": iteration}
                if inner_stub is not None:
                    value = await run_stub(self.inner.spec, inner_stub, inputs)
                else:
                    value = await self.inner.run(member, bound, model, (*extra_sections, *sections), step)
                history.append(value)
                parent.meta["iterations"] = iteration
                if await _maybe_await(self.until(value)):
                    parent.output = value
                    return value
                sections = (feedback_section(await _maybe_await(self.feedback(value))),)
            raise ConvergenceFailure(
                f"{spec.qualname}: @refine did not converge in {self.max_iterations} iteration(s); "
                "inspect .history, raise max_iterations=, or sharpen the feedback",
                history=history,
            )

    def __repr__(self) -> str:
        return f"<refine {self.spec.qualname} -> {self.spec.output.name}, max_iterations={self.max_iterations}>"


def refine(
    until: Callable[[Any], Any], feedback: Callable[[Any], Any], max_iterations: int = 5
) -> Callable[[InferFunction[P, R]], RefineFunction[P, R]]:
    """Repeat an `@infer` call until `until(result)` holds, feeding back what is still wrong.

    Stack it above `@infer`. `until` and `feedback` run in the host process, must be
    deterministic and must not call `@infer` functions.

    Example:
        ```python
        @refine(until=lambda code: run_tests(code).ok, feedback=lambda code: run_tests(code).failures)
        @infer("Write a function that passes the tests", budget=Budget(usd="0.20"))
        def write_code(spec: Spec) -> Code: ...
        ```

    Args:
        until: the convergence check on each iteration's result.
        feedback: what is wrong with a result (a string, a list of strings, or JSON-able data),
            sent in the next iteration's prompt.
        max_iterations: how many `@infer` calls at most (each with its own retries).

    Raises:
        StratumCompileError: at decoration, when stacked on something other than `@infer`,
            when `max_iterations < 1`, or when `until`/`feedback` reference an `@infer` function.
        ConvergenceFailure: at call time, with `.history` holding every iteration's result.
    """

    def decorate(fn: InferFunction[P, R]) -> RefineFunction[P, R]:
        where = f"@refine {getattr(fn, '__qualname__', fn)!r}"
        if not isinstance(fn, InferFunction):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise StratumCompileError(f"{where}: @refine must be stacked above @infer (write @refine(...) first)")
        if not isinstance(max_iterations, int) or max_iterations < 1:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise StratumCompileError(f"{where}: max_iterations must be an int >= 1, got {max_iterations!r}")
        for role, check in (("until", until), ("feedback", feedback)):
            if not callable(check):
                raise StratumCompileError(f"{where}: {role} must be a callable taking the result")
            _check_pure(where, role, check)
        return RefineFunction(fn, until=until, feedback=feedback, max_iterations=max_iterations)

    return decorate
