"""Stratum: LLM calls that behave like the rest of your code.

`@infer` declares an LLM call with a typed `@contract` result, `ensure` postconditions,
targeted retries and a hard `Budget`; `@compute` marks plain code with the same signature;
`@flow` shares one budget envelope and one trace across every call inside it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from stratum import exceptions, pricing, providers, trace
from stratum._budget import Budget, BudgetEvent, Envelope, current_budget
from stratum._cache import cache_store
from stratum._config import configure
from stratum._contracts import contract, opaque
from stratum._debate import debate
from stratum._decorators import InferFunction, compute, flow, infer, run
from stratum._hitl import (
    ConsoleReviewSink,
    HumanDecision,
    HumanReviewContext,
    PendingReview,
    ReviewSink,
    await_human,
)
from stratum._model import Usage
from stratum._parallel import Failure, Success, parallel, race
from stratum._probabilistic import Probabilistic
from stratum._refine import refine
from stratum.exceptions import (
    AuthenticationError,
    BudgetExceeded,
    CassetteMissError,
    ConfigurationError,
    ConsensusFailure,
    ContentFilterError,
    ConvergenceFailure,
    HITLTimeoutError,
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
    UnknownPriceError,
)
from stratum.trace import FlowRecord, TraceRecord

try:
    __version__ = version("stratum")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = (
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
    "Envelope",
    "Failure",
    "FlowRecord",
    "HITLTimeoutError",
    "HumanDecision",
    "HumanReviewContext",
    "InferFunction",
    "NetworkBlockedError",
    "ParallelValidationFailed",
    "ParseFailure",
    "PendingReview",
    "PostconditionFailed",
    "PreconditionFailed",
    "Probabilistic",
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
    "Success",
    "TraceRecord",
    "UnknownPriceError",
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

for _obj in (Budget, BudgetEvent, Envelope, InferFunction, Probabilistic, Usage):
    _obj.__module__ = __name__
for _obj in (
    ConsoleReviewSink,
    Failure,
    HumanDecision,
    HumanReviewContext,
    PendingReview,
    ReviewSink,
    Success,
):
    _obj.__module__ = __name__
