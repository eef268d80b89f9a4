"""The provider's own clients build and send requests without the client-level steps they never
use (`build_request` merging, the auth generator, redirects, cookies): what reaches the server
must be exactly what `client.build_request` + `client.send` would have sent."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

import stratum
from stratum.providers import OpenAI
from stratum.providers._http import _ReadAll

REPLY = {
    "id": "r",
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


@stratum.infer("Say hi")
def hi(name: str) -> str: ...


@pytest.mark.anyio
async def test_the_request_is_what_build_request_would_make() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json=REPLY, headers={"set-cookie": "session=abc"})

    provider = OpenAI(base_url="http://api.test/v1", api_key="sk-test", transport=httpx2.MockTransport(handler))
    with stratum.configure(providers={"t": provider}, default_model="t:m"):
        assert await hi("a") == "hi"
        assert await hi("b") == "hi"
    first, second = seen
    client = httpx2.AsyncClient(headers=first.headers)  # only to compare with what build_request makes
    expected = client.build_request("POST", "http://api.test/v1/chat/completions", content=first.content)
    assert str(first.url) == str(expected.url)
    assert sorted(first.headers.multi_items()) == sorted(expected.headers.multi_items())
    assert first.headers["authorization"] == "Bearer sk-test"
    assert json.loads(first.content)["messages"][1]["content"] == "name: a"
    # a cookie a server sets is never sent back on the next call: API calls carry no session
    assert "cookie" not in second.headers
    await client.aclose()


def test_a_users_client_still_goes_through_its_own_send() -> None:
    class Client:
        def __init__(self) -> None:
            self.sent: list[Any] = []

        async def send(self, request: Any, **kwargs: Any) -> Any:
            self.sent.append(request)
            raise RuntimeError("stop")

    client = Client()
    assert _ReadAll(client, own=True)._own is False  # pyright: ignore[reportPrivateUsage]  # no _transport_for_url
    assert _ReadAll(httpx2.AsyncClient(), own=False)._own is False  # pyright: ignore[reportPrivateUsage]
    assert _ReadAll(httpx2.AsyncClient(), own=True)._own is True  # pyright: ignore[reportPrivateUsage]
