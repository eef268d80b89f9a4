"""`@infer(quorum=N, agree_on=..., threshold=k)`: N concurrent attempts loops, the agreeing answer wins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stratum._compose.members import pooled, spec_parent
from stratum._compose.outcomes import Success, gather
from stratum._runtime.attempts import run_attempts
from stratum._runtime.spec import InferSpec
from stratum._util.jsonable import canonical_key
from stratum.exceptions import (
    ConsensusFailure,
    ContentFilterError,
    ParseFailure,
    PostconditionFailed,
    RefusalError,
)

__all__ = ("run_quorum",)

_MEMBER_FAILURES = (PostconditionFailed, ParseFailure, RefusalError, ContentFilterError)
"""Errors that make a quorum member disagree instead of failing the whole call."""


async def run_quorum(
    spec: InferSpec, bound: Mapping[str, Any], override: Any, extra_sections: tuple[str, ...], meta: Mapping[str, Any]
) -> Any:
    size, need, field = spec.quorum or 0, spec.threshold or 0, spec.agree_on
    info = {**meta, "kind": "quorum", "quorum": size, "threshold": need, "agree_on": field}
    with (
        spec_parent(spec, bound, override, info) as parent,
        pooled(spec) as member,
    ):
        thunks = [
            (lambda i=i: run_attempts(member, bound, override, extra_sections=extra_sections, meta={"kind": "quorum", "member": i}))
            for i in range(size)
        ]
        outcomes = await gather(thunks, fatal=lambda exc: not isinstance(exc, _MEMBER_FAILURES))
        votes: dict[str, list[int]] = {}
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, Success):
                votes.setdefault(canonical_key(outcome.value, (field,) if field else ()), []).append(index)
        parent.meta["votes"] = {key: len(members) for key, members in votes.items()}
        no_votes: list[int] = []
        agreeing = max(votes.values(), key=len, default=no_votes)
        if len(agreeing) < need:
            shown = ", ".join(f"{k}×{len(v)}" for k, v in votes.items()) or "no valid output"
            raise ConsensusFailure(
                f"{spec.qualname}: quorum of {size} did not reach {need} agreeing on {field!r} ({shown}); "
                "inspect .outputs, lower threshold=, or make the intent less ambiguous",
                outputs=[o.value if isinstance(o, Success) else o.error for o in outcomes],
            )

        def confidence(index: int) -> float:
            value = getattr(outcomes[index], "value", None)
            score = getattr(value, "confidence", None)
            return float(score) if isinstance(score, int | float) and not isinstance(score, bool) else float("-inf")

        # Highest confidence among the agreeing members; the first of them on a tie (or without one).
        winner = max(agreeing, key=lambda i: (confidence(i), -i))
        parent.meta["winner"] = winner
        parent.meta["agreed"] = len(agreeing)
        value = outcomes[winner]
        assert isinstance(value, Success)
        parent.output = value.value
        return value.value
