"""Model strings (`"provider:model"`) and the local model servers they may name: one home.

`"provider:model"` splits on the first `:`, so model names may contain colons
(`"ollama:llama3.2:3b"`, `"openrouter:google/gemini-2.0-flash-exp:free"`). A string without
`:` whose part before the first `/` is a known provider name is read LiteLLM-style
(`"groq/llama-3.3-70b-versatile"`), so code written for LiteLLM runs unchanged.

Local servers (Ollama, vLLM, llama.cpp, LM Studio) run on your own hardware: they need no key,
and a call to them costs nothing unless you price it with `configure(prices=...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from types import MappingProxyType

from stratum.exceptions import ConfigurationError

__all__ = ("LOCAL_SERVERS", "is_local", "split_model_string")

LOCAL_SERVERS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "ollama": ("OLLAMA_BASE_URL", "http://localhost:11434/v1"),
        "vllm": ("VLLM_BASE_URL", "http://localhost:8000/v1"),
        "llamacpp": ("LLAMACPP_BASE_URL", "http://localhost:8080/v1"),
        "lmstudio": ("LMSTUDIO_BASE_URL", "http://localhost:1234/v1"),
    }
)
"""Local OpenAI-compatible servers: provider name -> (base-URL env var, default base URL)."""

_EXAMPLES = "e.g. 'openai:gpt-4.1-mini', 'anthropic:claude-sonnet-4-5' or 'ollama:llama3.2'"


def is_local(provider: str) -> bool:
    """True when `provider` names a model server on your own hardware (free unless priced)."""
    return provider.strip().lower() in LOCAL_SERVERS


def split_model_string(
    model: str, known: Container[str], *, guess: Callable[[str], str | None] | None = None
) -> tuple[str, str]:
    """Split a model string into `(provider, model)`.

    Args:
        model: `"provider:model"`, or LiteLLM-style `"provider/model"` for a known provider.
        known: the provider names in force (configured and built-in), for the LiteLLM form.
        guess: given a bare model name, the provider that probably serves it (for the message).

    Raises:
        ConfigurationError: naming the part that is missing (provider or model).
    """
    if not isinstance(model, str) or not model.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigurationError(f"model string {model!r} is empty; write 'provider:model', {_EXAMPLES}")
    provider, sep, name = model.partition(":")
    if sep:
        if not provider:
            raise ConfigurationError(
                f"model string {model!r} has no provider before ':'; write 'provider:model', {_EXAMPLES}"
            )
        if not name:
            raise ConfigurationError(
                f"model string {model!r} has no model after '{provider}:'; write e.g. '{provider}:MODEL-NAME' "
                f"with the model to call"
            )
        return provider, name
    head, slash, rest = model.partition("/")
    if slash and head in known:
        if not rest:
            raise ConfigurationError(
                f"model string {model!r} has no model after '{head}/'; write e.g. '{head}:MODEL-NAME'"
            )
        return head, rest
    likely = guess(model) if guess is not None else None
    hint = f"e.g. {likely + ':' + model!r}" if likely else _EXAMPLES
    raise ConfigurationError(f"model string {model!r} has no provider; write 'provider:model', {hint}")
