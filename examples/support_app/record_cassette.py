"""Re-record `cassettes/test_support_app/test_replayed_from_a_cassette.yaml` from a local fake.

The committed cassette was recorded with this script: a mock transport poses as
api.openai.com, so no real key or network is involved, and the recorded URL is the real one
(the test replays it through the built-in OpenAI provider). With a real key you would instead
run `pytest examples --stratum-record-mode=once`.

    PYTHONPATH=src python examples/support_app/record_cassette.py
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
from app import handle  # pyright: ignore[reportImplicitRelativeImport]

import stratum
from stratum.providers import OpenAI
from stratum.testing import cassette

HERE = Path(__file__).parent
PATH = HERE / "cassettes" / "test_support_app" / "test_replayed_from_a_cassette.yaml"


def fake_openai(request: httpx2.Request) -> httpx2.Response:
    body = json.loads(request.content)
    is_triage = "response_format" in body
    content = (
        json.dumps({"category": "billing", "urgency": 2, "summary": "Charged twice for the May invoice"})
        if is_triage
        else "Sorry about the double charge! We've refunded the second payment; it will show in 3-5 days."
    )
    return httpx2.Response(
        200,
        json={
            "id": "chatcmpl-example",
            "object": "chat.completion",
            "model": "gpt-4.1-mini-2025-04-14",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 120 if is_triage else 90, "completion_tokens": 24},
        },
        headers={"openai-organization": "org-fake", "set-cookie": "__cf_bm=fake"},
    )


async def main() -> None:
    provider = OpenAI(api_key="sk-fake-example-0000000000000000", transport=httpx2.MockTransport(fake_openai))
    with stratum.configure(providers={"openai": provider}), cassette(PATH, record_mode="all"):
        print(await handle("I was charged twice for my May invoice."))


if __name__ == "__main__":
    stratum.run(main())
