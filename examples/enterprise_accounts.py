"""Azure OpenAI, Amazon Bedrock and Vertex AI accounts, with a client-side rate limit.

Offline: `python examples/enterprise_accounts.py`. Each provider is built exactly as in
production, except that `transport=` routes its requests to a local function playing the cloud
(it checks what a real endpoint would check: the path, the auth header, the SigV4 signature's
presence) instead of the network. Needs `pip install 'stratum[bedrock,vertex]'`.
"""

from __future__ import annotations

import json

import httpx2
from botocore.credentials import Credentials as AwsCredentials
from google.oauth2.credentials import Credentials as GoogleCredentials

import stratum
from stratum import contract, infer, trace
from stratum.providers import AzureOpenAI, Bedrock, RateLimit, Vertex


@contract
class Capital:
    city: str
    country: str


ANSWER = '{"city": "Paris", "country": "France"}'


def cloud(request: httpx2.Request) -> httpx2.Response:
    """Plays Azure, Bedrock and Vertex: one canned answer in each wire format."""
    host, path, auth = request.url.host, request.url.path, request.headers.get("authorization", "")
    if host.endswith("openai.azure.com"):
        assert path == "/openai/deployments/gpt-4.1-mini/chat/completions"
        assert request.url.params["api-version"] == "2024-10-21" and request.headers["api-key"]
        usage = {"prompt_tokens": 40, "completion_tokens": 9}
        message = {"role": "assistant", "content": ANSWER}
        body = {"model": "gpt-4.1-mini-2025-04-14", "choices": [{"message": message, "finish_reason": "stop"}], "usage": usage}
        return httpx2.Response(200, json=body)
    if host.startswith("bedrock-runtime."):
        assert request.url.raw_path == b"/model/amazon.nova-micro-v1%3A0/converse"
        assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") and "x-amz-date" in request.headers
        body = {
            "output": {"message": {"role": "assistant", "content": [{"text": ANSWER}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 38, "outputTokens": 11},
        }
        return httpx2.Response(200, json=body, headers={"x-amzn-requestid": "example-1"})
    assert path.startswith("/v1/projects/my-project/locations/europe-west4/publishers/google/models/")
    assert auth == "Bearer ya29.example-token"
    body = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": ANSWER}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 35, "candidatesTokenCount": 10},
        "modelVersion": "gemini-2.5-flash",
    }
    return httpx2.Response(200, json=body)


transport = httpx2.MockTransport(cloud)
stratum.configure(
    providers={
        # api-key auth; pass azure_ad_token_provider=... for Entra ID instead
        "azure": AzureOpenAI(api_key="example-key", endpoint="https://my-resource.openai.azure.com", transport=transport),
        # the usual AWS credential chain when credentials= is not given
        "bedrock": Bedrock(
            "us-east-1",
            credentials=AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            transport=transport,
            rate_limit=RateLimit(requests_per_minute=60, tokens_per_minute=100_000),
        ),
        # Application Default Credentials when credentials= is not given
        "vertex": Vertex(
            "my-project",
            "europe-west4",
            credentials=GoogleCredentials(token="ya29.example-token"),
            transport=transport,
        ),
    }
)


@infer("Name the capital of the country.", max_tokens=50)
def capital(country: str) -> Capital: ...


async def main() -> None:
    for model in ("azure:gpt-4.1-mini", "bedrock:amazon.nova-micro-v1:0", "vertex:gemini-2.5-flash"):
        with stratum.configure(default_model=model):
            result = await capital("France")
        record = trace.records()[-1]
        print(f"{model:32} -> {result.city}, {record.input_tokens}+{record.output_tokens} tokens, ${record.cost_usd}")
    assert json.loads(ANSWER) == {"city": "Paris", "country": "France"}


if __name__ == "__main__":
    stratum.run(main())
