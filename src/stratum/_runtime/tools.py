"""Tools: `@compute` functions an `@infer` call lets the model call.

A tool's schema comes from its signature and docstring (a pydantic model of its parameters,
descriptions from the Google-style `Args:` section). The model's arguments are validated
before the function runs; a bad argument goes back to the model as a targeted message (which
argument, what was wrong), an exception the tool declared with `@compute(retry_on=...)` goes
back as a tool error, and any other exception is raised to the caller.

Each call that runs is traced as its own record (`model="compute"`, the round in `meta`) whose
`parent_id` is the `@infer` call's record. Results are kept per call: when a retry (after an
`ensure` failure) asks again for a result the call already has, it is answered from what was
kept instead of running the tool again, and the retry's request carries the earlier calls and
results once, not the whole history of rounds.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import to_jsonable_python

from stratum._runtime import context as _context
from stratum._runtime.contracts import is_opaque
from stratum._runtime.model import Completion, Message
from stratum._runtime.recording import recording
from stratum._runtime.tool_types import ToolCall, ToolDefinition, ToolResult
from stratum.exceptions import StratumCompileError

if TYPE_CHECKING:
    from stratum._runtime.budget import Envelope

__all__ = ("Tool", "ToolRun", "build_tools", "retry_on_of", "tool_from")

_RESERVED = "__stratum_retry_on__"
"""The attribute `@compute(retry_on=...)` sets on the function it returns."""


def retry_on_of(fn: Callable[..., Any]) -> tuple[type[BaseException], ...]:
    """The exception types a `@compute` function declared as reportable to a model."""
    declared: tuple[type[BaseException], ...] = getattr(fn, _RESERVED, ())
    return declared


@dataclass(frozen=True, slots=True, kw_only=True)
class Tool:
    """One `@compute` function made callable by a model."""

    fn: Callable[..., Any]
    """The original function (not the `@compute` wrapper, which would trace it a second time)."""
    qualname: str
    definition: ToolDefinition
    arguments: type[BaseModel]
    params: tuple[str, ...]
    is_async: bool
    retry_on: tuple[type[BaseException], ...]
    opaque_result: bool
    definition_json: str = ""
    """The definition as compact JSON (sized once, for token estimates)."""

    @property
    def name(self) -> str:
        """The name the model calls it by."""
        return self.definition.name

    def validate(self, arguments: Mapping[str, Any] | str) -> dict[str, Any] | str:
        """The validated keyword arguments, or a message saying exactly what is wrong."""
        if isinstance(arguments, str):
            snippet = arguments[:120] + ("…" if len(arguments) > 120 else "")
            return f"the arguments of {self.name} must be a JSON object, got {snippet!r}; call it again with an object"
        try:
            parsed = self.arguments.model_validate(dict(arguments))
        except ValidationError as exc:
            problems: list[str] = []
            for err in exc.errors(include_url=False):
                where = ".".join(str(p) for p in err["loc"]) or "arguments"
                if err["type"] == "missing":
                    problems.append(f"argument {where!r} is required")
                elif err["type"] == "extra_forbidden":
                    problems.append(f"there is no argument {where!r} (the arguments are: {', '.join(self.params) or 'none'})")
                else:
                    shown = json.dumps(err.get("input"), default=str)[:80]
                    problems.append(f"argument {where!r}: {err['msg']} (got {shown})")
            return f"{self.name} was not run: " + "; ".join(problems) + ". Call it again with corrected arguments"
        return {name: getattr(parsed, f"p{index}") for index, name in enumerate(self.params)}


def _description(fn: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    doc = inspect.getdoc(fn) or ""
    parsed = docstring_parser.parse(doc)
    text = "\n\n".join(part for part in (parsed.short_description, parsed.long_description) if part)
    return text, {p.arg_name: p.description or "" for p in parsed.params}


def tool_from(fn: Any, where: str) -> Tool:
    """Make a `Tool` of a `@compute` function.

    Raises:
        StratumCompileError: `fn` is not a `@compute` function or its signature cannot be a tool.
    """
    if not callable(fn) or not getattr(fn, "__stratum_compute__", False):
        name = getattr(fn, "__qualname__", repr(fn))
        raise StratumCompileError(
            f"{where}: tools must be @compute functions, got {name}; decorate it with @compute "
            "(its signature and docstring become the tool's schema)"
        )
    original: Callable[..., Any] = inspect.unwrap(fn)
    qualname: str = getattr(original, "__qualname__", repr(original))
    signature = inspect.signature(original)
    try:
        hints = typing.get_type_hints(original, include_extras=True)
    except NameError as exc:
        raise StratumCompileError(f"{where}: cannot resolve an annotation of tool {qualname}: {exc}") from None
    description, param_docs = _description(original)
    fields: dict[str, Any] = {}
    params: list[str] = []
    for index, param in enumerate(signature.parameters.values()):
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise StratumCompileError(
                f"{where}: tool {qualname} has parameter {param.name!r} of kind {param.kind.description}; "
                "a tool's parameters must be named (plain or keyword-only) so the model can pass them"
            )
        annotation = hints.get(param.name, Any)
        default = ... if param.default is param.empty else param.default
        # Fields are named p0, p1... with the parameter name as alias: a parameter may be
        # called `json` or `schema` without shadowing BaseModel attributes.
        fields[f"p{index}"] = (
            annotation,
            Field(default, alias=param.name, description=param_docs.get(param.name) or None),
        )
        params.append(param.name)
    arguments = create_model(
        f"{original.__name__}_arguments",
        __config__=ConfigDict(extra="forbid", populate_by_name=False),
        **fields,
    )
    schema = arguments.model_json_schema(by_alias=True)
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        if isinstance(prop, dict):
            typing.cast(dict[str, Any], prop).pop("title", None)
    definition = ToolDefinition(name=original.__name__, description=description or qualname, parameters=schema)
    return Tool(
        fn=original,
        qualname=qualname,
        definition=definition,
        definition_json=json.dumps(
            {"name": definition.name, "description": definition.description, "parameters": schema},
            separators=(",", ":"),
            default=str,
        ),
        arguments=arguments,
        params=tuple(params),
        is_async=inspect.iscoroutinefunction(original),
        retry_on=retry_on_of(fn),
        opaque_result=is_opaque(hints.get("return")),
    )


def build_tools(fns: Sequence[Any], max_tool_rounds: int, where: str) -> tuple[Tool, ...]:
    """The tools of an `@infer` declaration, checked at decoration time."""
    if isinstance(fns, str | bytes) or not isinstance(fns, Sequence):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise StratumCompileError(f"{where}: tools must be a list of @compute functions, got {type(fns).__name__}")
    if not isinstance(max_tool_rounds, int) or isinstance(max_tool_rounds, bool) or max_tool_rounds < 1:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise StratumCompileError(
            f"{where}: max_tool_rounds must be an int >= 1 (how many times the model may call tools), "
            f"got {max_tool_rounds!r}"
        )
    tools = tuple(tool_from(fn, where) for fn in fns)
    seen: dict[str, str] = {}
    for tool in tools:
        if tool.name in seen:
            raise StratumCompileError(
                f"{where}: two tools are named {tool.name!r} ({seen[tool.name]} and {tool.qualname}); "
                "the model calls tools by name, so rename one"
            )
        seen[tool.name] = tool.qualname
    return tools


def _result_of(tool: Tool, call: ToolCall, value: Any) -> ToolResult:
    data = to_jsonable_python(value, fallback=str)
    if isinstance(value, str) and not tool.opaque_result:
        content = value
    else:
        # opaque results are always JSON: a string result is a quoted JSON string, data the
        # model reads, never text that could pass for instructions
        content = json.dumps(data, ensure_ascii=False, sort_keys=True)
    return ToolResult(call=call, content=content, value=data, data=tool.opaque_result)


def _error(call: ToolCall, message: str) -> ToolResult:
    return ToolResult(call=call, content=message, value=None, is_error=True)


@dataclass(slots=True)
class ToolRun:
    """The tools of one `@infer` call while it runs: rounds, kept results, trace links."""

    tools: tuple[Tool, ...]
    max_rounds: int
    parent_id: str
    """The `@infer` call's record id: every tool record's `parent_id`."""
    rounds: int = 0
    """Rounds of tool calls made in the current attempt."""
    kept: dict[tuple[str, str], ToolResult] = field(default_factory=dict[tuple[str, str], ToolResult])
    """Successful results by (tool name, canonical arguments), across attempts."""
    exchange: list[ToolResult] = field(default_factory=list[ToolResult])
    """Every distinct call answered so far, with its result (the context a retry carries)."""

    @property
    def definitions(self) -> tuple[ToolDefinition, ...]:
        """What the model is told it may call."""
        return tuple(t.definition for t in self.tools)

    def exhausted(self) -> bool:
        """True when the model may not call tools any more in this attempt."""
        return self.rounds >= self.max_rounds

    def over_limit(self) -> str:
        """The violation of an answer that called tools after the last allowed round."""
        return (
            f"you called tools after the limit of {self.max_rounds} round(s) (max_tool_rounds); "
            "no tool may be called now: answer with the result"
        )

    def estimate_messages(self, messages: tuple[Message, ...]) -> tuple[Message, ...]:
        """`messages` plus the tool definitions and calls as text, for the token estimate.

        The definitions are the same text every request (a system message: its count is
        cached); the calls change per round.
        """
        defined = Message("system", "\n".join(t.definition_json for t in self.tools))
        calls = [
            {"name": c.name, "arguments": c.arguments} for m in messages if m.kind == "tool_calls" for c in m.calls
        ]
        if not calls:
            return (*messages, defined)
        return (*messages, defined, Message("assistant", json.dumps(calls, default=str)))

    async def answer(
        self, messages: tuple[Message, ...], completion: Completion, *, attempt: int, envelope: Envelope | None
    ) -> tuple[Message, ...]:
        """Run (or answer from kept results) every call of one round, in order; return the
        next request's messages: these, the model's calls, and their results.

        Raises:
            BudgetExceeded: the deadline passed while a tool ran.
            Exception: what a tool raised, unless it declared it with `retry_on=`.
        """
        self.rounds += 1
        results: list[ToolResult] = []
        for call in completion.tool_calls:
            results.append(await self._one(call, attempt=attempt, envelope=envelope))
        return (*messages, *self._turns(completion.text, completion.tool_calls, results))

    @staticmethod
    def _turns(text: str, calls: Sequence[ToolCall], results: Sequence[ToolResult]) -> tuple[Message, Message]:
        return (
            Message("assistant", text, "tool_calls", calls=tuple(calls)),
            Message("user", "\n".join(r.content for r in results), "tool_results", results=tuple(results)),
        )

    def retry_context(self, retry: tuple[Message, ...], base: int) -> tuple[Message, ...]:
        """A retry's messages with every call made so far and its result inserted once, after
        the first `base` (the prompt), before the last answer and its violations."""
        self.rounds = 0
        if not self.exchange:
            return retry
        turns = self._turns("", [r.call for r in self.exchange], self.exchange)
        return (*retry[:base], *turns, *retry[base:])

    def _find(self, name: str) -> Tool | None:
        for tool in self.tools:
            if tool.name == name:
                return tool
        return None

    async def _one(self, call: ToolCall, *, attempt: int, envelope: Envelope | None) -> ToolResult:
        tool = self._find(call.name)
        if tool is None:
            known = ", ".join(t.name for t in self.tools)
            return _error(call, f"there is no tool named {call.name!r}; the tools are: {known}")
        checked = tool.validate(call.arguments)
        if isinstance(checked, str):
            return _error(call, checked)
        key = (tool.name, json.dumps(to_jsonable_python(checked, fallback=str), sort_keys=True))
        kept = self.kept.get(key)
        if kept is not None:
            return ToolResult(call=call, content=kept.content, value=kept.value, data=kept.data)
        result = await self._run(tool, call, checked, attempt=attempt, envelope=envelope)
        if not result.is_error:
            self.kept[key] = result
        self.exchange.append(result)
        return result

    async def _run(
        self, tool: Tool, call: ToolCall, kwargs: dict[str, Any], *, attempt: int, envelope: Envelope | None
    ) -> ToolResult:
        meta = {"tool_round": self.rounds, "attempt": attempt, "tool_call_id": call.id}
        try:
            # the tool's record is a child of the @infer call's; what the tool calls, of the tool's
            with _context.under_record(self.parent_id), recording(
                tool.qualname, bound=kwargs, model="compute", meta=meta, parent=True
            ) as rec:
                rec.output = await self._call(tool, kwargs, envelope)
        except Exception as exc:
            if tool.retry_on and isinstance(exc, tool.retry_on):
                return _error(call, f"{tool.name} raised {type(exc).__name__}: {exc}")
            raise
        return _result_of(tool, call, rec.output)

    @staticmethod
    async def _call(tool: Tool, kwargs: dict[str, Any], envelope: Envelope | None) -> Any:
        """Run the tool inside the call's deadline: its time is the call's time."""
        left = envelope.check_time() if envelope is not None else None
        if not tool.is_async:
            output = tool.fn(**kwargs)  # a sync tool cannot be interrupted: checked after it returns
            if envelope is not None:
                envelope.check_time()
            return output
        if left is None:
            return await tool.fn(**kwargs)
        with anyio.move_on_after(left) as scope:
            return await tool.fn(**kwargs)
        assert envelope is not None and scope.cancelled_caught
        envelope.raise_deadline()
