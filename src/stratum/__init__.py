"""Stratum: LLM calls that behave like the rest of your code.

`@infer` declares an LLM call with a typed `@contract` result, `ensure` postconditions,
targeted retries and a hard `Budget`; `@compute` marks plain code with the same signature;
`@flow` shares one budget envelope and one trace across every call inside it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from stratum import exceptions, pricing, providers, trace
from stratum._compose.cache import cache_store
from stratum._compose.debate import debate
from stratum._compose.human import (
    ConsoleReviewSink,
    HumanDecision,
    HumanReviewContext,
    PendingReview,
    ReviewSink,
    await_human,
)
from stratum._compose.outcomes import Failure, Success
from stratum._compose.parallel import parallel
from stratum._compose.probabilistic import Probabilistic
from stratum._compose.race import race
from stratum._compose.refine import refine
from stratum._runtime.budget import Budget, BudgetEvent, Envelope, current_budget
from stratum._runtime.config import configure
from stratum._runtime.contracts import contract, opaque
from stratum._runtime.decorators import InferFunction, compute, infer, run
from stratum._runtime.flows import flow
from stratum._runtime.model import Usage
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
