"""The OpenAI and Anthropic batch clients against a loopback fake of both APIs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stratum._runtime.model import CallSpec, Message
from stratum.exceptions import ProviderError, ProviderHTTPError
from stratum.providers import Anthropic, OpenAI
from stratum.providers._batch import BatchRequest, batch_api, run_batch
from tests.batch._fake_batches import Fail, fake_batches

pytestmark = pytest.mark.anyio

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"], "additionalProperties": False}


def calls(n: int) -> list[BatchRequest]:
    return [
        BatchRequest(
            f"i{i}-a0",
            CallSpec(model="m-1", messages=(Message("system", "Count"), Message("user", f"item {i}")),
                     output_schema=SCHEMA, output_name="Count", max_tokens=50),
        )
        for i in range(n)
    ]


def responder(kind: str, custom_id: str, body: dict[str, Any]) -> dict[str, Any] | Fail:
    index = int(custom_id[1:].split("-")[0])
    if index == 2:
        return Fail(503, "overloaded")
    if index == 3:
        return Fail(expired=True)
    return {"n": index}


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_submit_poll_and_read_every_outcome(kind: str) -> None:
    with fake_batches(responder, polls_until_done=3) as fake:
        provider = (OpenAI(api_key="sk-test-123456789", base_url=f"{fake.base}/v1") if kind == "openai"
                    else Anthropic(api_key="sk-ant-test-123456789", base_url=f"{fake.base}/v1"))
        api = batch_api(provider)
        assert api is not None
        batch_id, outcomes = await run_batch(api, calls(5), poll_interval=0.01)
        await provider.aclose()
    assert batch_id in fake.batches and fake.status_polls >= 3
    assert [json.loads(outcomes[f"i{i}-a0"].completion.text)["n"] for i in (0, 1, 4)] == [0, 1, 4]  # type: ignore[union-attr]
    ok = outcomes["i0-a0"].completion
    assert ok is not None and ok.usage.input_tokens == 100 and ok.usage.output_tokens == 20
    failed, expired = outcomes["i2-a0"].error, outcomes["i3-a0"].error
    assert isinstance(failed, ProviderError) and isinstance(expired, ProviderError)
    if kind == "openai":
        assert isinstance(failed, ProviderHTTPError) and failed.status_code == 503
        lines = fake.submitted[0]
        assert {line["url"] for line in lines} == {"/v1/chat/completions"}
        assert lines[0]["body"]["response_format"]["type"] == "json_schema"
    else:
        assert "overloaded" in str(failed) and "expired" in str(expired)
        assert fake.submitted[0][0]["params"]["output_config"]["format"]["type"] == "json_schema"


async def test_a_batch_that_fails_validation_fails_every_item() -> None:
    with fake_batches(responder) as fake:
        provider = OpenAI(api_key="sk-test-123456789", base_url=f"{fake.base}/v1")
        api = batch_api(provider)
        assert api is not None
        dup = calls(1) * 2  # duplicate custom_id: the API refuses the whole file
        _, outcomes = await run_batch(api, dup, poll_interval=0.01)
        await provider.aclose()
    assert "duplicate custom_id" in str(outcomes["i0-a0"].error)


async def test_bad_credentials_raise_without_the_key() -> None:
    with fake_batches(responder) as fake:
        provider = Anthropic(api_key="sk-ant-secret-abcdefgh", base_url=f"{fake.base}/v1", anthropic_version="")
        api = batch_api(provider)
        assert api is not None
        with pytest.raises(ProviderHTTPError) as info:
            await run_batch(api, calls(1), poll_interval=0.01)
        await provider.aclose()
    assert info.value.status_code == 401 and "sk-ant-secret" not in str(info.value)


def test_only_openai_and_anthropic_have_batch_apis() -> None:
    from stratum.providers import Gemini
    from stratum.testing import ScriptedModel

    assert batch_api(Gemini(api_key="k" * 20)) is None
    assert batch_api(ScriptedModel([])) is None
