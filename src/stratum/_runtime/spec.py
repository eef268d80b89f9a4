"""What `@infer` computes once, at decoration time."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from stratum._runtime.budget import Budget
from stratum._runtime.checks import CompiledCheck, compile_checks
from stratum._runtime.contracts import OutputSpec, is_opaque, output_spec
from stratum._runtime.inputs import check_input_annotations, may_hold_media
from stratum._runtime.fallback import check_chain
from stratum._runtime.plan import PlanSlot
from stratum._runtime.prompt import Prompt, compile_prompt, prompt_hash
from stratum._runtime.tools import Tool, build_tools
from stratum.exceptions import StratumCompileError

__all__ = ("CacheScope", "InferSpec", "build_spec")

CacheScope = Literal["none", "session", "global"]

_REQUIRED = object()
"""Marks a parameter without a default in `InferSpec.defaults`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InferSpec:
    """The compiled declaration of one `@infer` function."""

    fn: Callable[..., Any]
    qualname: str
    signature: inspect.Signature
    params: tuple[str, ...]
    opaque_params: frozenset[str]
    intent: str
    context: tuple[str, ...]
    system: str
    template_hash: str
    output: OutputSpec
    ensures: tuple[CompiledCheck, ...]
    givens: tuple[CompiledCheck, ...]
    model: Any
    temperature: float | None
    max_tokens: int | None
    budget: Budget | None
    retries: int
    cache: CacheScope
    stable: bool
    quorum: int | None
    agree_on: str | None
    threshold: int | None
    tools: tuple[Tool, ...] = ()
    """The `@compute` functions the model may call (see `_runtime/tools.py`)."""
    max_tool_rounds: int = 5

    defaults: tuple[tuple[str, Any], ...] = ()
    """(name, default) of every parameter in order, `_REQUIRED` when it has none (fast binding)."""

    media: bool = False
    """Some parameter may hold an `Image`, `Document` or `Audio` (only then are calls searched)."""

    prompt_cache: bool | None = None
    """Mark the stable prefix cacheable (Anthropic `cache_control`); None: `configure`'s setting."""

    plans: PlanSlot = field(default_factory=PlanSlot, compare=False, repr=False)
    """The last model plan of this function's calls (see `_runtime/plan.py`)."""

    @property
    def composed(self) -> bool:
        """The declaration uses composition options (cache, quorum or sampling): decided here only."""
        return self.cache != "none" or self.quorum is not None or not self.stable

    def compile(self, bound: Mapping[str, Any], extra_sections: tuple[str, ...] = ()) -> Prompt:
        """The compiled first-attempt prompt of a call with these bound inputs."""
        return compile_prompt(
            system=self.system,
            template_hash=self.template_hash,
            bound=bound,
            opaque_params=self.opaque_params,
            extra_sections=extra_sections,
            media=self.media,
        )

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Bind call arguments with defaults applied; raise TypeError like a normal call."""
        if self.defaults and len(args) <= len(self.defaults):
            # Plain parameters only: no need for Signature.bind's general machinery. Anything
            # unusual (a missing or unknown argument) falls through to it for the TypeError.
            bound: dict[str, Any] = {}
            for index, (name, default) in enumerate(self.defaults):
                if index < len(args):
                    if name in kwargs:
                        break
                    bound[name] = args[index]
                elif name in kwargs:
                    bound[name] = kwargs[name]
                elif default is not _REQUIRED:
                    bound[name] = default
                else:
                    break
            else:
                if not kwargs or all(name in bound for name in kwargs):
                    return bound
        full = self.signature.bind(*args, **kwargs)
        full.apply_defaults()
        return dict(full.arguments)


def _check_body(fn: Callable[..., Any], where: str) -> None:
    """The body of an @infer function never runs: allow only `...`, `pass` and a docstring."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef):
        return
    for stmt in node.body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            if stmt.value.value is Ellipsis or isinstance(stmt.value.value, str):
                continue
        raise StratumCompileError(
            f"{where}: an @infer function's body is never run; write `...` as its body "
            "(the intent and the return contract say what the model does)"
        )


def build_spec(
    fn: Callable[..., Any],
    *,
    intent: str,
    context: str | Sequence[str],
    ensure: Callable[..., Any] | Sequence[Callable[..., Any]] | None,
    given: Callable[..., Any] | Sequence[Callable[..., Any]] | None,
    model: Any,
    temperature: float | None,
    max_tokens: int | None,
    budget: Budget | None,
    retries: int,
    cache: str,
    stable: bool,
    quorum: int | None,
    agree_on: str | None,
    threshold: int | None,
    tools: Sequence[Any] = (),
    max_tool_rounds: int = 5,
    namespace: dict[str, Any] | None = None,
    prompt_cache: bool | None = None,
) -> InferSpec:
    """Validate an `@infer` declaration and precompute everything a call needs.

    Raises:
        StratumCompileError: for every misconfiguration that can be seen before a call.
    """
    where = f"@infer {getattr(fn, '__qualname__', fn)!r}"
    if not callable(fn):
        raise StratumCompileError(f"{where}: @infer decorates functions")
    if inspect.iscoroutinefunction(fn):
        raise StratumCompileError(
            f"{where}: declare @infer functions with plain `def`; calling one already returns an awaitable"
        )
    if not isinstance(intent, str) or not intent.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
        raise StratumCompileError(f"{where}: intent must be a non-empty string saying what the call does")
    if not isinstance(retries, int) or retries < 0:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise StratumCompileError(f"{where}: retries must be an int >= 0 (retries=N allows N+1 attempts)")
    if max_tokens is not None and max_tokens < 1:
        raise StratumCompileError(f"{where}: max_tokens must be a positive int or None")
    if cache not in ("none", "session", "global"):
        raise StratumCompileError(f"{where}: cache must be 'none', 'session' or 'global', got {cache!r}")
    if budget is not None and not isinstance(budget, Budget):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise StratumCompileError(f"{where}: budget must be a stratum.Budget, got {type(budget).__name__}")
    if quorum is not None or threshold is not None:
        if quorum is None:
            raise StratumCompileError(f"{where}: threshold= needs quorum=N")
        if quorum < 2:
            raise StratumCompileError(f"{where}: quorum must be at least 2, got {quorum}")
        if agree_on is None or threshold is None:
            raise StratumCompileError(f"{where}: quorum=N needs both agree_on='field' and threshold=k")
        if not 1 <= threshold <= quorum:
            raise StratumCompileError(f"{where}: threshold must be between 1 and quorum ({quorum}), got {threshold}")
    _check_body(fn, where)
    built_tools = build_tools(tools, max_tool_rounds, where)
    signature = inspect.signature(fn)
    try:
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except NameError:
            if namespace is None:
                raise
            hints = typing.get_type_hints(fn, globalns=namespace, localns=namespace, include_extras=True)
    except NameError as exc:
        raise StratumCompileError(f"{where}: cannot resolve an annotation: {exc}") from None
    params = tuple(signature.parameters)
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise StratumCompileError(f"{where}: *args/**kwargs are not supported; name every input")
    check_input_annotations(hints, params, where)
    opaque_params = frozenset(name for name in params if is_opaque(hints.get(name)))
    output = output_spec(hints.get("return"), where)
    if agree_on is not None and output.kind == "contract" and agree_on not in output.fields:
        raise StratumCompileError(
            f"{where}: agree_on={agree_on!r} is not a field of {output.name} (fields: {', '.join(sorted(output.fields))})"
        )
    contexts = (context,) if isinstance(context, str) else tuple(context)
    for text in (intent, *contexts):
        for name in re.findall(r"\{(\w+)\}", text):
            if name in opaque_params:
                raise StratumCompileError(
                    f"{where}: opaque parameter {name!r} is interpolated into instruction text; "
                    "opaque data travels only as the JSON attachment, so remove {" + name + "}"
                )
    system = "\n\n".join((intent.strip(), *(c.strip() for c in contexts if c.strip())))
    ensures = compile_checks(
        ensure,
        kind="ensure",
        where=where,
        params=params,
        result_type=output.annotation,
        result_fields=output.fields,
    )
    givens = compile_checks(given, kind="given", where=where, params=params)
    simple = all(p.kind is p.POSITIONAL_OR_KEYWORD for p in signature.parameters.values())
    defaults = tuple(
        (p.name, _REQUIRED if p.default is p.empty else p.default) for p in signature.parameters.values()
    )
    return InferSpec(
        defaults=defaults if simple else (),
        fn=fn,
        qualname=getattr(fn, "__qualname__", repr(fn)),
        signature=signature.replace(return_annotation=signature.return_annotation),
        params=params,
        opaque_params=opaque_params,
        intent=intent,
        context=contexts,
        system=system,
        template_hash=prompt_hash(f"{system}\n\n{output.hash}"),
        output=output,
        ensures=ensures,
        givens=givens,
        model=check_chain(model, where),
        temperature=temperature,
        max_tokens=max_tokens,
        budget=budget,
        retries=retries,
        cache=cache,  # pyright: ignore[reportArgumentType]
        stable=stable,
        quorum=quorum,
        agree_on=agree_on,
        threshold=threshold,
        media=may_hold_media(hints, params),
        prompt_cache=prompt_cache,
        tools=built_tools,
        max_tool_rounds=max_tool_rounds,
    )
