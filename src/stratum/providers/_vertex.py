"""Vertex AI: the Gemini dialect on `aiplatform.googleapis.com`, with Google credentials (ADC).

`POST {base}/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent`
where `base` is `https://{location}-aiplatform.googleapis.com/v1` (`https://aiplatform.googleapis.com/v1`
for `location="global"`). Auth is `Authorization: Bearer` with an OAuth token from google-auth
(the optional extra `stratum[vertex]`): Application Default Credentials unless `credentials=`
is given. A token is refreshed in a worker thread (google-auth refreshes synchronously) when it
is missing or about to expire, and added after the interceptors, so no cassette holds it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio.to_thread

from stratum._runtime.model import CallSpec
from stratum.exceptions import AuthenticationError, ConfigurationError
from stratum.providers._faults import scrub
from stratum.providers._gemini import GeminiDialect
from stratum.providers._http import DEFAULT_MAX_CONCURRENCY, Authorize, Options, Sleep, _HTTPProvider

if TYPE_CHECKING:
    from stratum.pricing import Price
    from stratum.providers._ratelimit import RateLimit

__all__ = ("Vertex", "VertexGeminiDialect")

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_INSTALL = "pip install 'stratum[vertex]'"


class VertexGeminiDialect(GeminiDialect):
    """Gemini `generateContent` under a Vertex AI project and location."""

    def __init__(self, project: str, location: str) -> None:
        self._prefix = f"projects/{quote(project, safe='')}/locations/{quote(location, safe='')}/publishers/google/models"

    def path(self, call: CallSpec) -> str:
        return f"{self._prefix}/{quote(call.model, safe='-._~')}:generateContent"


def _google_auth() -> Any:
    try:
        import google.auth
        import google.auth.transport.requests as transport  # token refresh needs `requests`
    except ImportError as exc:
        raise ConfigurationError(
            f"the Vertex provider authenticates with google-auth, which is not installed: {_INSTALL}"
        ) from exc
    del transport
    return google.auth


def _oauth(credentials: Any) -> Authorize:
    """A fresh bearer token per request (refreshed in a thread only when needed)."""
    lock = threading.Lock()

    def refresh() -> str:
        import google.auth.exceptions
        import google.auth.transport.requests

        with lock:  # one refresh at a time; the others then find a valid token
            if not credentials.valid:
                try:
                    credentials.refresh(google.auth.transport.requests.Request())
                except google.auth.exceptions.GoogleAuthError as exc:
                    raise AuthenticationError(
                        f"vertex: Google credentials could not be refreshed ({type(exc).__name__}: "
                        f"{scrub(str(exc))}). Run `gcloud auth application-default login`, or check "
                        "GOOGLE_APPLICATION_CREDENTIALS",
                        status_code=401,
                        provider="vertex",
                    ) from None
            return str(credentials.token)

    async def authorize(request: Any) -> Mapping[str, str]:
        token = credentials.token if credentials.valid else await anyio.to_thread.run_sync(refresh)
        return {"authorization": f"Bearer {token}"}

    return authorize


class Vertex(_HTTPProvider):
    """Gemini on Google Cloud Vertex AI, authenticated with Google credentials.

    Credentials are Application Default Credentials (`gcloud auth application-default login`,
    `GOOGLE_APPLICATION_CREDENTIALS`, or the attached service account on Google Cloud), found by
    google-auth (`pip install 'stratum[vertex]'`). The model part of `"vertex:MODEL"` is the
    Gemini model (`gemini-2.5-flash`).

    Example:
        ```python
        stratum.configure(providers={"vertex": Vertex(project="my-project", location="europe-west4")})

        @infer("Classify the ticket", model="vertex:gemini-2.5-flash")
        def classify(text: str) -> Ticket: ...
        ```

    Args:
        project: the Google Cloud project; defaults to `GOOGLE_CLOUD_PROJECT`, then the ADC project.
        location: the region, or `"global"`; defaults to `GOOGLE_CLOUD_LOCATION`, else `us-central1`.
        credentials: a `google.auth.credentials.Credentials` to use instead of ADC.
        base_url: the API root; defaults to the location's `aiplatform.googleapis.com/v1` endpoint.
        http_client: an `httpx2.AsyncClient` (or httpx 0.x `AsyncClient`) to use as is.
        max_retries, max_concurrency, model, price, name, transport, sleep, jitter,
            rate_limit: as for `OpenAI`.
    """

    def __init__(
        self,
        project: str | None = None,
        location: str | None = None,
        *,
        credentials: Any = None,
        base_url: str | None = None,
        http_client: Any = None,
        max_retries: int = 3,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        model: str | None = None,
        price: Price | None = None,
        name: str = "vertex",
        transport: Any = None,
        sleep: Sleep | None = None,
        jitter: Callable[[], float] | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        project = project or os.environ.get("GOOGLE_CLOUD_PROJECT")
        if credentials is None:
            auth = _google_auth()
            try:
                credentials, found_project = auth.default(scopes=list(SCOPES))
            except auth.exceptions.DefaultCredentialsError as exc:
                raise ConfigurationError(
                    "no Google credentials for the Vertex provider: run `gcloud auth application-default "
                    "login`, set GOOGLE_APPLICATION_CREDENTIALS to a service-account file, or pass "
                    f"credentials=... ({type(exc).__name__})"
                ) from None
            project = project or found_project
        if not project:
            raise ConfigurationError(
                "no Google Cloud project for the Vertex provider: pass project='my-project' or set "
                "GOOGLE_CLOUD_PROJECT"
            )
        location = location or os.environ.get("GOOGLE_CLOUD_LOCATION") or "us-central1"
        host = "aiplatform.googleapis.com" if location == "global" else f"{location}-aiplatform.googleapis.com"
        self.project: str = project
        self.location: str = location
        super().__init__(
            name=name,
            dialect=VertexGeminiDialect(project, location),
            base_url=base_url or f"https://{host}/v1",
            headers={},
            secret=None,
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
                authorize=_oauth(credentials),
            ),
        )
