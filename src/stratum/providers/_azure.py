"""Azure OpenAI: the OpenAI dialects on deployment URLs, with `api-key` or an Entra ID token.

Chat Completions go to `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=V`
(the model string's model part is the *deployment* name); the Responses API goes to
`{endpoint}/openai/responses?api-version=V` with the deployment as `model`. Auth is the
`api-key` header, or `Authorization: Bearer` with a token from a callable (Entra ID, e.g.
`azure.identity.get_bearer_token_provider(...)`) asked before every request, after the
interceptors, so a token never reaches a cassette.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from stratum._runtime.model import CallSpec
from stratum.exceptions import ConfigurationError
from stratum.providers._http import DEFAULT_MAX_CONCURRENCY, Options, Sleep, _HTTPProvider, missing_key
from stratum.providers._openai import OpenAIChatDialect, OpenAIResponsesDialect

if TYPE_CHECKING:
    from stratum.pricing import Price
    from stratum.providers._ratelimit import RateLimit

__all__ = ("AZURE_API_VERSION", "AzureOpenAI")

AZURE_API_VERSION = "2024-10-21"
"""The default `api-version` for Chat Completions (the current GA version)."""
_RESPONSES_API_VERSION = "2025-04-01-preview"
"""The Responses API is only served under preview versions."""

TokenProvider = Callable[[], "str | Awaitable[str]"]


class _AzureChatDialect(OpenAIChatDialect):
    """OpenAI Chat on a deployment URL."""

    def __init__(self, api_version: str) -> None:
        super().__init__()
        self._query = f"?api-version={quote(api_version, safe='')}"

    def path(self, call: CallSpec) -> str:
        return f"deployments/{quote(call.model, safe='')}/chat/completions{self._query}"


class _AzureResponsesDialect(OpenAIResponsesDialect):
    """OpenAI Responses with an `api-version` query."""

    def __init__(self, api_version: str) -> None:
        super().__init__()
        self._query = f"?api-version={quote(api_version, safe='')}"

    def path(self, call: CallSpec) -> str:
        return f"responses{self._query}"


def _bearer(token_provider: TokenProvider) -> Callable[[Any], Awaitable[Mapping[str, str]]]:
    async def authorize(request: Any) -> Mapping[str, str]:
        token: Any = token_provider()
        if inspect.isawaitable(token):
            token = await token
        if not isinstance(token, str) or not token:
            raise ConfigurationError(
                "the Azure token provider returned no token (expected a non-empty str); pass "
                "azure_ad_token_provider=azure.identity.get_bearer_token_provider(credential, "
                "'https://cognitiveservices.azure.com/.default')"
            )
        return {"authorization": f"Bearer {token}"}

    return authorize


class AzureOpenAI(_HTTPProvider):
    """Azure OpenAI (Azure AI Foundry) deployments, with an API key or an Entra ID token.

    The model part of `"azure:NAME"` is the deployment name. Name deployments after their
    model (`gpt-4.1-mini`) so prices are found, or set `configure(prices={"azure:NAME": ...})`;
    the model id Azure returns is also used for pricing.

    Example:
        ```python
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider

        token = get_bearer_token_provider(DefaultAzureCredential(), "https://cognitiveservices.azure.com/.default")
        stratum.configure(providers={"azure": AzureOpenAI(endpoint="https://my-res.openai.azure.com",
                                                           azure_ad_token_provider=token)})

        @infer("Classify the ticket", model="azure:gpt-4.1-mini")
        def classify(text: str) -> Ticket: ...
        ```

    Args:
        api_key: the resource key (`api-key` header); defaults to `AZURE_OPENAI_API_KEY`.
            Not needed with `azure_ad_token_provider`.
        endpoint: `https://RESOURCE.openai.azure.com` (or `.cognitiveservices.azure.com`);
            defaults to `AZURE_OPENAI_ENDPOINT`.
        api_version: the `api-version` query; defaults to `OPENAI_API_VERSION`, else
            `2024-10-21` for chat and `2025-04-01-preview` for responses.
        http_client: an `httpx2.AsyncClient` (or httpx 0.x `AsyncClient`) to use as is.
        api: `"chat"` (deployment URLs) or `"responses"`.
        azure_ad_token_provider: a `() -> str` (or async) returning an Entra ID access token,
            asked before every request (it should cache, as azure-identity's does).
        max_retries, max_concurrency, model, price, name, transport, sleep, jitter,
            rate_limit: as for `OpenAI`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        endpoint: str | None = None,
        api_version: str | None = None,
        http_client: Any = None,
        api: Literal["chat", "responses"] = "chat",
        *,
        azure_ad_token_provider: TokenProvider | None = None,
        max_retries: int = 3,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        model: str | None = None,
        price: Price | None = None,
        name: str = "azure",
        transport: Any = None,
        sleep: Sleep | None = None,
        jitter: Callable[[], float] | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        if api not in ("chat", "responses"):
            raise ConfigurationError(f"api must be 'chat' or 'responses', got {api!r}; pass api='chat'")
        root = endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
        if not root:
            raise ConfigurationError(
                "no endpoint for the Azure OpenAI provider: set AZURE_OPENAI_ENDPOINT or pass "
                "endpoint='https://RESOURCE.openai.azure.com'"
            )
        headers: dict[str, str] = {}
        key: str | None = None
        if azure_ad_token_provider is None:
            key = api_key or os.environ.get("AZURE_OPENAI_API_KEY")
            if not key:
                raise missing_key("Azure OpenAI", ("AZURE_OPENAI_API_KEY",))
            headers["api-key"] = key
        version = api_version or os.environ.get("OPENAI_API_VERSION")
        if api == "chat":
            dialect: OpenAIChatDialect | OpenAIResponsesDialect = _AzureChatDialect(version or AZURE_API_VERSION)
        else:
            dialect = _AzureResponsesDialect(version or _RESPONSES_API_VERSION)
        self.api = api
        self.api_version = version or (AZURE_API_VERSION if api == "chat" else _RESPONSES_API_VERSION)
        root = root.rstrip("/")
        super().__init__(
            name=name,
            dialect=dialect,
            base_url=root if root.endswith("/openai") else f"{root}/openai",
            headers=headers,
            secret=key,
            options=Options(
                http_client=http_client,
                transport=transport,
                max_retries=max_retries,
                max_concurrency=max_concurrency,
                model=model,
                price=price,
                sleep=sleep,
                jitter=jitter,
                rate_limit=rate_limit,
                authorize=None if azure_ad_token_provider is None else _bearer(azure_ad_token_provider),
            ),
        )
