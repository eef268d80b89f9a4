"""Stratum: LLM calls that behave like the rest of your code.

`@infer` declares an LLM call with a typed `@contract` result, `ensure` postconditions,
targeted retries and a hard `Budget`; `@compute` marks plain code with the same signature;
`@flow` shares one budget envelope and one trace across every call inside it.

Names are imported on first use (like anyio's and httpx's lazy doors): `import stratum` costs
little, and each part (providers, trace sinks, composition) loads when something needs it.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from stratum import exceptions
from stratum.exceptions import (
    AuthenticationError,
    BudgetExceeded,
    CassetteMissError,
    ConfigurationError,
    ConsensusFailure,
    ContentFilterError,
    ConvergenceFailure,
    HITLTimeoutError,
    LedgerError,
    NetworkBlockedError,
    ParallelValidationFailed,
    ParseFailure,
    PostconditionFailed,
    PreconditionFailed,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    RateLimitError,
    RefusalError,
    ScriptExhaustedError,
    StabilityAssertionError,
    StaleCassetteError,
    StratumCompileError,
    StratumError,
    StreamInterruptedError,
    UnknownPriceError,
    UnsupportedInputError,
)

if TYPE_CHECKING:
    from stratum import pricing as pricing
    from stratum import providers as providers
    from stratum import trace as trace
    from stratum._compose.cache import cache_store as cache_store
    from stratum._compose.debate import debate as debate
    from stratum._compose.human import ConsoleReviewSink as ConsoleReviewSink, HumanDecision as HumanDecision, HumanReviewContext as HumanReviewContext, PendingReview as PendingReview, ReviewSink as ReviewSink, await_human as await_human
    from stratum._compose.outcomes import Failure as Failure, Success as Success
    from stratum._compose.parallel import parallel as parallel
    from stratum._compose.probabilistic import Probabilistic as Probabilistic
    from stratum._compose.progress import Progress as Progress
    from stratum._compose.race import race as race
    from stratum._compose.refine import refine as refine
    from stratum._media import Audio as Audio, Document as Document, Image as Image
    from stratum._runtime.budget import Budget as Budget, BudgetEvent as BudgetEvent, Envelope as Envelope, current_budget as current_budget
    from stratum._runtime.config import configure as configure
    from stratum._runtime.contracts import contract as contract, opaque as opaque
    from stratum._runtime.decorators import InferFunction as InferFunction, compute as compute, infer as infer, run as run
    from stratum._runtime.flows import flow as flow
    from stratum._runtime.model import Usage as Usage
    from stratum._runtime.streaming import InferStream as InferStream
    from stratum.trace import FlowRecord as FlowRecord, TraceRecord as TraceRecord

    __version__: str

_LAZY: MappingProxyType[str, str] = MappingProxyType(
    {
        "Audio": "stratum._media",
        "Budget": "stratum._runtime.budget",
        "BudgetEvent": "stratum._runtime.budget",
        "ConsoleReviewSink": "stratum._compose.human",
        "Document": "stratum._media",
        "Envelope": "stratum._runtime.budget",
        "Failure": "stratum._compose.outcomes",
        "FlowRecord": "stratum.trace",
        "HumanDecision": "stratum._compose.human",
        "HumanReviewContext": "stratum._compose.human",
        "Image": "stratum._media",
        "InferFunction": "stratum._runtime.decorators",
        "InferStream": "stratum._runtime.streaming",
        "PendingReview": "stratum._compose.human",
        "Probabilistic": "stratum._compose.probabilistic",
        "Progress": "stratum._compose.progress",
        "ReviewSink": "stratum._compose.human",
        "Success": "stratum._compose.outcomes",
        "TraceRecord": "stratum.trace",
        "Usage": "stratum._runtime.model",
        "await_human": "stratum._compose.human",
        "cache_store": "stratum._compose.cache",
        "compute": "stratum._runtime.decorators",
        "configure": "stratum._runtime.config",
        "contract": "stratum._runtime.contracts",
        "current_budget": "stratum._runtime.budget",
        "debate": "stratum._compose.debate",
        "flow": "stratum._runtime.flows",
        "infer": "stratum._runtime.decorators",
        "opaque": "stratum._runtime.contracts",
        "parallel": "stratum._compose.parallel",
        "race": "stratum._compose.race",
        "refine": "stratum._compose.refine",
        "run": "stratum._runtime.decorators",
    }
)
"""Public name -> the private module that defines it."""

_SUBPACKAGES = frozenset({"pricing", "providers", "trace"})

_REHOMED = frozenset(
    {
        "Audio",
        "Budget",
        "BudgetEvent",
        "ConsoleReviewSink",
        "Document",
        "Envelope",
        "Failure",
        "HumanDecision",
        "HumanReviewContext",
        "Image",
        "InferFunction",
        "InferStream",
        "PendingReview",
        "Probabilistic",
        "Progress",
        "ReviewSink",
        "Success",
        "Usage",
    }
)
"""Classes whose `__module__` reads `stratum` (their public home) in reprs and docs."""


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("stratum")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            return "0.0.0"
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    if name in _REHOMED:
        value.__module__ = __name__
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = (
    "Audio",
    "AuthenticationError",
    "Budget",
    "BudgetEvent",
    "BudgetExceeded",
    "CassetteMissError",
    "ConfigurationError",
    "ConsensusFailure",
    "ConsoleReviewSink",
    "ContentFilterError",
    "ConvergenceFailure",
    "Document",
    "Envelope",
    "Failure",
    "FlowRecord",
    "HITLTimeoutError",
    "HumanDecision",
    "HumanReviewContext",
    "Image",
    "InferFunction",
    "InferStream",
    "LedgerError",
    "NetworkBlockedError",
    "ParallelValidationFailed",
    "ParseFailure",
    "PendingReview",
    "PostconditionFailed",
    "PreconditionFailed",
    "Probabilistic",
    "Progress",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderTimeout",
    "RateLimitError",
    "RefusalError",
    "ReviewSink",
    "ScriptExhaustedError",
    "StabilityAssertionError",
    "StaleCassetteError",
    "StratumCompileError",
    "StratumError",
    "StreamInterruptedError",
    "Success",
    "TraceRecord",
    "UnknownPriceError",
    "UnsupportedInputError",
    "Usage",
    "__version__",
    "await_human",
    "cache_store",
    "compute",
    "configure",
    "contract",
    "current_budget",
    "debate",
    "exceptions",
    "flow",
    "infer",
    "opaque",
    "parallel",
    "pricing",
    "providers",
    "race",
    "refine",
    "run",
    "trace",
)
