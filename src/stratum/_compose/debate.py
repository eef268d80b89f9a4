"""`debate`: agents argue over rounds, then a synthesizer turns the history into a result (SPEC §5.3).

Round 1 calls every agent on the topic, concurrently. Each rebuttal round calls every agent on
the topic again with the OTHER agents' previous arguments attached as opaque JSON data through
the normal prompt compiler (never pasted into instruction text). Parameter names are never
assumed: the topic goes to the parameter whose annotation accepts it (else the first one).
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, overload

from stratum._compose.members import call_member
from stratum._compose.outcomes import Success, gather
from stratum._runtime.decorators import InferFunction
from stratum._runtime.recording import parent_recording
from stratum._util.jsonable import canonical_key

__all__ = ("debate",)

S = TypeVar("S")

_ARGUMENTS_KEY = "other_arguments"
_HISTORY_NAMES = frozenset({"arguments", "history", "argument_history", "full_argument_history", "debate"})


def _target(fn: Any) -> Callable[..., Any]:
    return fn.spec.fn if isinstance(fn, InferFunction) else fn


def _parameters(fn: Any) -> list[inspect.Parameter]:
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p for p in inspect.signature(fn).parameters.values() if p.kind in kinds]


def _hints(fn: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(_target(fn))
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to positions
        return {}


def _accepts(annotation: Any, value: Any) -> bool:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_accepts(arm, value) for arm in typing.get_args(annotation) if arm is not type(None))
    return isinstance(annotation, type) and isinstance(value, annotation)


def _topic_parameter(agent: Any, topic: Any) -> str:
    params = _parameters(agent)
    if not params:
        raise TypeError(f"debate agent {agent!r} takes no named parameter to receive the topic")
    hints = _hints(agent)
    for p in params:
        if _accepts(hints.get(p.name), topic):
            return p.name
    required = [p for p in params if p.default is inspect.Parameter.empty]
    return (required or params)[0].name


def _key(value: Any, field: str | None) -> str:
    return canonical_key(value, (field,) if field else ())


def _participant(agent: Any, index: int) -> str:
    return f"{getattr(agent, '__name__', 'agent')}#{index}"


def _synth_arguments(synthesize: Any, topic: Any, history: list[list[Any]], converged: bool) -> dict[str, Any]:
    """Map (topic, history, converged) onto the synthesizer's parameters: names first, then positions."""
    params = _parameters(synthesize)
    hints = _hints(synthesize)
    roles: dict[str, Any] = {"topic": topic, "history": history, "converged": converged}
    out: dict[str, Any] = {}
    free: list[inspect.Parameter] = []
    for p in params:
        if p.name == "topic" and "topic" in roles:
            out[p.name] = roles.pop("topic")
        elif p.name == "converged" and "converged" in roles:
            out[p.name] = roles.pop("converged")
        elif p.name in _HISTORY_NAMES and "history" in roles:
            out[p.name] = roles.pop("history")
        else:
            free.append(p)
    for p in free:
        if not roles:
            break
        if hints.get(p.name) is bool and "converged" in roles:
            out[p.name] = roles.pop("converged")
        else:
            role = next(iter(roles))
            out[p.name] = roles.pop(role)
    return out


@overload
async def debate(
    agents: Sequence[Callable[..., Awaitable[Any]]],
    topic: Any,
    rounds: int,
    synthesize: Callable[..., Awaitable[S]],
) -> S: ...
@overload
async def debate(
    agents: Sequence[Callable[..., Awaitable[Any]]],
    topic: Any,
    rounds: int = 2,
    *,
    synthesize: Callable[..., Awaitable[S]],
) -> S: ...
async def debate(
    agents: Sequence[Callable[..., Awaitable[Any]]],
    topic: Any,
    rounds: int = 2,
    synthesize: Callable[..., Awaitable[Any]] | None = None,
) -> Any:
    """Let agents argue about `topic` for `rounds` rounds, then return `synthesize`'s result.

    Example:
        ```python
        verdict = await stratum.debate([optimist, skeptic], topic=proposal, rounds=2, synthesize=judge)
        if not verdict.converged:  # e.g. a field of the judge's contract
            decision = await stratum.await_human(...)
        ```

    Args:
        agents: `@infer` functions (or async callables) that take the topic and return an argument.
            In rebuttal rounds an `@infer` agent also receives the other agents' previous
            arguments as opaque JSON data named `other_arguments` (a plain async callable
            receives them as its second parameter, if it has one).
        topic: passed to each agent's parameter whose annotation accepts it, else the first.
        rounds: 1 opening round plus `rounds - 1` rebuttal rounds.
        synthesize: called with the topic, the argument history (a list of rounds, each a list
            of the agents' arguments in order) and `converged`, matched to its parameters by
            name (`topic`, `arguments`/`history`, `converged`), then by position.

    `converged` is True when, in the last round, every agent's argument agrees with the others
    on its `agree_on` field (the whole output without one) and no agent changed its position
    from the round before.
    """
    if synthesize is None:
        raise TypeError("debate() needs synthesize=: the function that turns the arguments into the result")
    if not agents:
        raise ValueError("debate() needs at least one agent")
    if rounds < 1:
        raise ValueError(f"debate(rounds={rounds}): rounds must be at least 1")
    n = len(agents)
    fields = [a.spec.agree_on if isinstance(a, InferFunction) else None for a in agents]
    topic_params = [_topic_parameter(a, topic) for a in agents]
    with parent_recording("stratum.debate", meta={"kind": "debate", "agents": n, "rounds": rounds}) as parent:
        history: list[list[Any]] = []
        for round_no in range(1, rounds + 1):
            previous = history[-1] if history else None

            def thunk(index: int, round_no: int = round_no, previous: list[Any] | None = previous) -> Callable[[], Awaitable[Any]]:
                agent = agents[index]
                kwargs: dict[str, Any] = {topic_params[index]: topic}
                meta = {"kind": "debate", "round": round_no, "agent": index}
                if previous is None:
                    return lambda: call_member(agent, kwargs, meta=meta)
                others = [
                    {"participant": _participant(agents[j], j), "argument": previous[j]} for j in range(n) if j != index
                ]
                if not isinstance(agent, InferFunction):
                    rest = [p.name for p in _parameters(agent) if p.name != topic_params[index]]
                    if rest:
                        kwargs[rest[0]] = [o["argument"] for o in others]
                    return lambda: call_member(agent, kwargs)
                key = _ARGUMENTS_KEY
                names = set(agent.spec.params)  # pyright: ignore[reportUnknownMemberType,reportUnknownArgumentType]
                while key in names:
                    key = f"_{key}"
                section = (
                    f"Debate round {round_no} of {rounds}. The other participants' arguments from round "
                    f"{round_no - 1} are attached as data under `{key}`. Answer them: rebut what is wrong, "
                    "concede what is right, and give your updated argument."
                )
                return lambda: call_member(agent, kwargs, extra_sections=(section,), extra_opaque={key: others}, meta=meta)

            outcomes = await gather([thunk(i) for i in range(n)], fatal=lambda exc: True)
            history.append([o.value for o in outcomes if isinstance(o, Success)])
        last = [_key(arg, fields[i]) for i, arg in enumerate(history[-1])]
        agreed = len(set(last)) == 1
        stable = len(history) < 2 or all(
            _key(arg, fields[i]) == last[i] for i, arg in enumerate(history[-2])
        )
        converged = agreed and stable
        parent.meta.update(agreed=agreed, stable=stable, converged=converged)
        result = await call_member(
            synthesize,
            _synth_arguments(synthesize, topic, history, converged),
            meta={"kind": "debate", "role": "synthesize", "converged": converged},
        )
        parent.output = result
        return result
