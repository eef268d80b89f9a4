"""Model providers: the `Provider` protocol, the request/response types, the model registry,
and the built-in HTTP providers.

Built-ins: `OpenAI` (Chat Completions or Responses), `Anthropic` (Messages),
`Gemini` (`generateContent`) and `OpenAICompatible` (any server speaking OpenAI Chat:
Ollama, vLLM, llama.cpp, Groq, OpenRouter, DeepSeek, Together); enterprise accounts
`AzureOpenAI`, `Bedrock` (Converse, SigV4) and `Vertex` (Gemini on Vertex AI). `RateLimit`
adds client-side requests/min and tokens/min limits to any of them. Model strings such as
`"openai:gpt-4.1-mini"` or `"ollama:llama3.2"` resolve to them without any configuration;
`configure(providers={"name": provider})` registers your own.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from stratum._runtime.model import CallSpec, Completion, FinishReason, Message, Provider, Usage
from stratum.providers._anthropic import Anthropic
from stratum.providers._gemini import Gemini
from stratum.providers._openai import OpenAI, OpenAICompatible
from stratum.providers._registry import ResolvedModel, resolve_model, split_model_string
from stratum.providers._stream_events import StreamEvent, StreamingProvider, TextDelta, UsageReport

if TYPE_CHECKING:
    from stratum.providers._azure import AzureOpenAI as AzureOpenAI
    from stratum.providers._bedrock import Bedrock as Bedrock
    from stratum.providers._ratelimit import RateLimit as RateLimit
    from stratum.providers._vertex import Vertex as Vertex

_LAZY: MappingProxyType[str, str] = MappingProxyType(
    {
        "AzureOpenAI": "stratum.providers._azure",
        "Bedrock": "stratum.providers._bedrock",
        "RateLimit": "stratum.providers._ratelimit",
        "Vertex": "stratum.providers._vertex",
    }
)
"""Names loaded on first use: accounts most programs never touch cost nothing at import."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stratum.providers' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

__all__ = (
    "Anthropic",
    "AzureOpenAI",
    "Bedrock",
    "CallSpec",
    "Completion",
    "FinishReason",
    "Gemini",
    "Message",
    "OpenAI",
    "OpenAICompatible",
    "Provider",
    "RateLimit",
    "ResolvedModel",
    "StreamEvent",
    "StreamingProvider",
    "TextDelta",
    "Usage",
    "UsageReport",
    "Vertex",
    "resolve_model",
    "split_model_string",
)
