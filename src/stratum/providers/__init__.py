"""Model providers: the `Provider` protocol, the request/response types, the model registry,
and the built-in HTTP providers.

Built-ins (DESIGN §5): `OpenAI` (Chat Completions or Responses), `Anthropic` (Messages),
`Gemini` (`generateContent`) and `OpenAICompatible` (any server speaking OpenAI Chat:
Ollama, vLLM, llama.cpp, Groq, OpenRouter, DeepSeek, Together). Model strings such as
`"openai:gpt-4.1-mini"` or `"ollama:llama3.2"` resolve to them without any configuration;
`configure(providers={"name": provider})` registers your own.
"""

from __future__ import annotations

from stratum._runtime.model import CallSpec, Completion, FinishReason, Message, Provider, Usage
from stratum.providers._anthropic import Anthropic
from stratum.providers._gemini import Gemini
from stratum.providers._openai import OpenAI, OpenAICompatible
from stratum.providers._registry import ResolvedModel, resolve_model, split_model_string
from stratum.providers._stream_events import StreamEvent, StreamingProvider, TextDelta, UsageReport

__all__ = (
    "Anthropic",
    "CallSpec",
    "Completion",
    "FinishReason",
    "Gemini",
    "Message",
    "OpenAI",
    "OpenAICompatible",
    "Provider",
    "ResolvedModel",
    "StreamEvent",
    "StreamingProvider",
    "TextDelta",
    "Usage",
    "UsageReport",
    "resolve_model",
    "split_model_string",
)
