"""Stratum: LLM calls that behave like the rest of your code.

`@infer` declares an LLM call with a typed `@contract` result, `ensure` postconditions,
targeted retries and a hard `Budget`; `@compute` marks plain code with the same signature;
`@flow` shares one budget envelope and one trace across every call inside it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from stratum import exceptions, pricing, providers, trace
from stratum._budget import Budget, BudgetEvent, Envelope, current_budget
from stratum._config import configure
from stratum._contracts import contract, opaque
from stratum._decorators import InferFunction, compute, flow, infer, run
from stratum._model import Usage
from stratum._probabilistic import Probabilistic
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
    "ContentFilterError",
    "ConvergenceFailure",
    "Envelope",
    "FlowRecord",
    "HITLTimeoutError",
    "InferFunction",
    "NetworkBlockedError",
    "ParallelValidationFailed",
    "ParseFailure",
    "PostconditionFailed",
    "PreconditionFailed",
    "Probabilistic",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderTimeout",
    "RateLimitError",
    "RefusalError",
    "ScriptExhaustedError",
    "StabilityAssertionError",
    "StaleCassetteError",
    "StratumCompileError",
    "StratumError",
    "TraceRecord",
    "UnknownPriceError",
    "Usage",
    "__version__",
    "compute",
    "configure",
    "contract",
    "current_budget",
    "exceptions",
    "flow",
    "infer",
    "opaque",
    "pricing",
    "providers",
    "run",
    "trace",
)

for _obj in (Budget, BudgetEvent, Envelope, InferFunction, Probabilistic, Usage):
    _obj.__module__ = __name__
