"""Built-in provider names: what `"name:model"` means when `configure(providers=)` does not say.

The registry calls a factory the first time a model string names it (and caches the provider
in the settings), so nothing here opens a connection or reads a key at import time. Hosted
presets need their key in the environment: without it the factory raises `ConfigurationError`
naming the variable. Local servers (`ollama`, `vllm`, `llamacpp`, `lmstudio`; listed in
`stratum._util.model_strings.LOCAL_SERVERS`) need none; their base URL can be moved with
`OLLAMA_BASE_URL`, `VLLM_BASE_URL`, `LLAMACPP_BASE_URL` and `LMSTUDIO_BASE_URL`. The enterprise
accounts (`azure`, `bedrock`, `vertex`) read their endpoint and credentials from the
environment the same way their own SDKs do.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import MappingProxyType

from stratum._runtime.model import Provider
from stratum._util.model_strings import LOCAL_SERVERS
from stratum.providers._anthropic import Anthropic
from stratum.providers._gemini import Gemini
from stratum.providers._http import api_key
from stratum.providers._openai import OpenAI, OpenAICompatible

__all__ = ("BUILTIN_FACTORIES", "HOSTED_COMPATIBLE")

HOSTED_COMPATIBLE: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "groq": ("GROQ_API_KEY", "https://api.groq.com/openai/v1"),
        "openrouter": ("OPENROUTER_API_KEY", "https://openrouter.ai/api/v1"),
        "deepseek": ("DEEPSEEK_API_KEY", "https://api.deepseek.com/v1"),
        "together": ("TOGETHER_API_KEY", "https://api.together.xyz/v1"),
    }
)
"""Hosted OpenAI-compatible APIs: name -> (key env var, base URL)."""


def _local(name: str) -> Callable[[], Provider]:
    env_var, default = LOCAL_SERVERS[name]

    def make() -> Provider:
        return OpenAICompatible(os.environ.get(env_var) or default, name=name)

    return make


def _hosted(name: str) -> Callable[[], Provider]:
    env_var, base_url = HOSTED_COMPATIBLE[name]

    def make() -> Provider:
        return OpenAICompatible(base_url, api_key=api_key(None, (env_var,), name), name=name)

    return make


def _openai() -> Provider:
    return OpenAI()


def _anthropic() -> Provider:
    return Anthropic()


def _google() -> Provider:
    return Gemini(name="google")


def _gemini() -> Provider:
    return Gemini(name="gemini")


def _azure() -> Provider:
    from stratum.providers._azure import AzureOpenAI

    return AzureOpenAI()


def _bedrock() -> Provider:
    from stratum.providers._bedrock import Bedrock

    return Bedrock()


def _vertex() -> Provider:
    from stratum.providers._vertex import Vertex

    return Vertex()


BUILTIN_FACTORIES: Mapping[str, Callable[[], Provider]] = MappingProxyType(
    {
        "openai": _openai,
        "anthropic": _anthropic,
        "google": _google,
        "gemini": _gemini,
        "azure": _azure,
        "bedrock": _bedrock,
        "vertex": _vertex,
        **{name: _local(name) for name in LOCAL_SERVERS},
        **{name: _hosted(name) for name in HOSTED_COMPATIBLE},
    }
)
"""Provider name -> a zero-argument factory (read-only)."""
