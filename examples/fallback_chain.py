"""A fallback chain: when OpenAI keeps failing, the same call moves on to Anthropic.

Offline: `python examples/fallback_chain.py`. The two providers are the real built-ins; their
`transport=` routes requests to local functions instead of the network: OpenAI answers 503
every time, Anthropic answers the question.
"""

from __future__ import annotations

import httpx2

import stratum
from stratum import Budget, contract, infer, trace
from stratum.providers import Anthropic, OpenAI


@contract
class Capital:
    city: str


def openai_down(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(503, json={"error": {"message": "The server is overloaded"}})


def anthropic_up(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(
        200,
        json={
            "content": [{"type": "text", "text": '{"city": "Paris"}'}],
            "stop_reason": "end_turn",
            "model": "claude-haiku-4-5-20251001",
            "usage": {"input_tokens": 60, "output_tokens": 8},
        },
    )


async def no_wait(seconds: float) -> None:
    """Skip the backoff between OpenAI's fault retries (a real run waits 0.5 s, 1 s...)."""


stratum.configure(
    providers={
        "openai": OpenAI(api_key="sk-example-0000000000", transport=httpx2.MockTransport(openai_down), sleep=no_wait),
        "anthropic": Anthropic(api_key="sk-ant-example-00000000", transport=httpx2.MockTransport(anthropic_up)),
    }
)


@infer(
    "Name the capital of the country.",
    model=["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"],
    budget=Budget(ms=30_000, usd="0.01"),
)
def capital(country: str) -> Capital: ...


async def main() -> None:
    print(await capital("France"))
    record = trace.records()[-1]
    print("models tried:", ", ".join(record.models_tried))
    for attempt in record.attempt_records:
        print(f"  {attempt.model}: {attempt.outcome}, ${attempt.cost_usd}  {(attempt.error or '')[:70]}")
    print(f"call cost: ${record.cost_usd}")


if __name__ == "__main__":
    stratum.run(main())
