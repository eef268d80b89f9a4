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

from stratum._runtime.model import CallSpec, Completion, FinishReason, Message, Provider, Usage
from stratum.providers._anthropic import Anthropic
from stratum.providers._azure import AzureOpenAI
from stratum.providers._bedrock import Bedrock
from stratum.providers._gemini import Gemini
from stratum.providers._openai import OpenAI, OpenAICompatible
from stratum.providers._ratelimit import RateLimit
from stratum.providers._vertex import Vertex
from stratum.providers._registry import ResolvedModel, resolve_model, split_model_string
from stratum.providers._stream_events import StreamEvent, StreamingProvider, TextDelta, UsageReport

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
