"""Model providers: the `Provider` protocol, the request/response types and the model registry.

Built-in HTTP providers (OpenAI, Anthropic, Gemini, OpenAI-compatible servers) live here too.
"""

from __future__ import annotations

from stratum._model import CallSpec, Completion, FinishReason, Message, Provider, Usage
from stratum.providers._registry import ResolvedModel, resolve_model, split_model_string

__all__ = (
    "CallSpec",
    "Completion",
    "FinishReason",
    "Message",
    "Provider",
    "ResolvedModel",
    "Usage",
    "resolve_model",
    "split_model_string",
)
