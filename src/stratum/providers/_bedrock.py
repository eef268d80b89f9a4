"""Amazon Bedrock Converse dialect and the `Bedrock` provider (SigV4 via botocore, or an API key).

`POST /model/{modelId}/converse` on `https://bedrock-runtime.{region}.amazonaws.com`. Usage:
Bedrock reports cache reads and writes *outside* `inputTokens` (as Anthropic does), so the
normalized input is `inputTokens + cacheReadInputTokens + cacheWriteInputTokens`.

Requests are signed with AWS Signature Version 4 by botocore (the optional extra
`stratum[bedrock]`), after the interceptors have seen them: cassettes never hold a signature or
a session token. A Bedrock API key (`AWS_BEARER_TOKEN_BEDROCK`) needs no botocore.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from stratum._runtime.model import CallSpec, Completion, FinishReason, Usage
from stratum.exceptions import ConfigurationError, UnsupportedInputError
from stratum.providers._dialect import as_int, as_str, get_dict, get_list, merged_turns
from stratum.providers._http import DEFAULT_MAX_CONCURRENCY, Authorize, Options, Sleep, _HTTPProvider

if TYPE_CHECKING:
    from stratum.pricing import Price
    from stratum.providers._ratelimit import RateLimit

__all__ = ("Bedrock", "BedrockConverseDialect")

_STOP: Mapping[str, FinishReason] = MappingProxyType({
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_use",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
})
_INSTALL = "pip install 'stratum[bedrock]'"


def _usage(data: Mapping[str, Any]) -> Usage | None:
    usage = get_dict(data, "usage")
    if not usage:
        return None
    read = as_int(usage, "cacheReadInputTokens")
    write = as_int(usage, "cacheWriteInputTokens")
    return Usage(
        input_tokens=as_int(usage, "inputTokens") + read + write,
        output_tokens=as_int(usage, "outputTokens"),
        cached_input_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=0,  # reasoning is billed inside outputTokens and not reported apart
    )


class BedrockConverseDialect:
    """`POST /model/{id}/converse`: `outputConfig.textFormat` json_schema, or forced tool use."""

    name = "bedrock-converse"

    def __init__(self, *, structured_output: Literal["native", "tool"] = "native") -> None:
        self._mode = structured_output

    def path(self, call: CallSpec) -> str:
        # model ids hold ':' and inference-profile ARNs hold '/': both are escaped in the path
        return f"model/{quote(call.model, safe='')}/converse"

    def encode(self, call: CallSpec) -> dict[str, Any]:
        for message in call.messages:
            if message.media is not None:
                raise UnsupportedInputError(
                    f"the Bedrock Converse dialect does not send media inputs yet ({message.media.media_type}); "
                    "call a model through 'anthropic:', 'openai:' or 'vertex:' for images, documents and audio",
                    media_type=message.media.media_type,
                    provider=self.name,
                )
        messages = [
            {"role": role, "content": [{"text": m.content} for m in group]}  # data stays its own block
            for role, group in merged_turns(call.messages)
        ]
        body: dict[str, Any] = {"messages": messages}
        if call.system:
            body["system"] = [{"text": call.system}]
        config: dict[str, Any] = {}
        if call.max_tokens is not None:
            config["maxTokens"] = call.max_tokens
        if call.temperature is not None:
            config["temperature"] = call.temperature
        if config:
            body["inferenceConfig"] = config
        if call.output_schema is not None:
            if self._mode == "tool":
                body["toolConfig"] = {
                    "tools": [
                        {
                            "toolSpec": {
                                "name": call.output_name,
                                "description": f"Record the {call.output_name} result.",
                                "inputSchema": {"json": call.output_schema},
                            }
                        }
                    ],
                    "toolChoice": {"tool": {"name": call.output_name}},
                }
            else:
                # Bedrock takes the schema as a JSON *string*
                schema = json.dumps(call.output_schema, ensure_ascii=False, separators=(",", ":"))
                body["outputConfig"] = {
                    "textFormat": {
                        "type": "json_schema",
                        "structure": {"jsonSchema": {"schema": schema, "name": call.output_name}},
                    }
                }
        return body

    def decode(self, call: CallSpec, data: Mapping[str, Any], headers: Mapping[str, str]) -> Completion:
        texts: list[str] = []
        tool_input: Any = None
        for block in get_list(get_dict(get_dict(data, "output"), "message"), "content"):
            text = as_str(block, "text")
            if text is not None:
                texts.append(text)
            elif tool_input is None and get_dict(block, "toolUse"):
                tool_input = get_dict(block, "toolUse").get("input")
        reason: FinishReason = _STOP.get(as_str(data, "stopReason") or "", "other")
        if tool_input is not None and call.output_schema is not None:
            # forced tool use: the single toolUse block's input is the output
            text = json.dumps(tool_input, ensure_ascii=False)
            if reason == "tool_use":
                reason = "stop"
        else:
            text = "".join(texts)
        return Completion(
            text=text,
            finish_reason=reason,
            usage=_usage(data) or Usage(),
            model=None,  # Converse does not echo the model id
            request_id=headers.get("x-amzn-requestid"),
        )

    def usage(self, data: Mapping[str, Any]) -> Usage | None:
        return _usage(data)


def _sigv4(credentials: Any, region: str) -> Authorize:
    """Sign each request with botocore's SigV4 (service `bedrock`)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    async def authorize(request: Any) -> Mapping[str, str]:
        # refreshable credentials (assumed roles, SSO) renew themselves here when expiring
        frozen = credentials.get_frozen_credentials()
        aws = AWSRequest(
            method=request.method,
            url=str(request.url),
            data=request.content,
            headers={"content-type": request.headers.get("content-type", "application/json")},
        )
        signer: Any = SigV4Auth(frozen, "bedrock", region)
        signer.add_auth(aws)
        return {k.lower(): v for k, v in aws.headers.items() if k.lower() != "content-type"}

    return authorize


class Bedrock(_HTTPProvider):
    """Amazon Bedrock through the Converse API (Claude, Nova, Llama, Mistral... on AWS).

    Credentials are AWS's usual chain (environment, `~/.aws` profiles, SSO, instance roles),
    found by botocore (`pip install 'stratum[bedrock]'`), and every request is signed with
    SigV4. A Bedrock API key (`api_key=` or `AWS_BEARER_TOKEN_BEDROCK`) is sent as a bearer
    token instead and needs no botocore. The model part of `"bedrock:ID"` is the model id or
    inference profile (`us.anthropic.claude-sonnet-4-6`, `amazon.nova-micro-v1:0`, an ARN).

    Example:
        ```python
        stratum.configure(providers={"bedrock": Bedrock(region="eu-west-1")})

        @infer("Classify the ticket", model="bedrock:eu.anthropic.claude-haiku-4-5-20251001-v1:0")
        def classify(text: str) -> Ticket: ...
        ```

    Args:
        region: the AWS region; defaults to `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's.
        profile: an `~/.aws/config` profile name (default: `AWS_PROFILE` or the default profile).
        credentials: a `botocore.credentials.Credentials` to use instead of the chain.
        api_key: a Bedrock API key; defaults to `AWS_BEARER_TOKEN_BEDROCK`.
        base_url: the runtime endpoint; defaults to `https://bedrock-runtime.{region}.amazonaws.com`.
        http_client: an `httpx2.AsyncClient` (or httpx 0.x `AsyncClient`) to use as is.
        structured_output: `"native"` (`outputConfig.textFormat` json_schema, the default) or
            `"tool"` (one tool forced with `toolChoice`, for models without native structured output).
        max_retries, max_concurrency, model, price, name, transport, sleep, jitter,
            rate_limit: as for `OpenAI`.
    """

    def __init__(
        self,
        region: str | None = None,
        *,
        profile: str | None = None,
        credentials: Any = None,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: Any = None,
        structured_output: Literal["native", "tool"] = "native",
        max_retries: int = 3,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        model: str | None = None,
        price: Price | None = None,
        name: str = "bedrock",
        transport: Any = None,
        sleep: Sleep | None = None,
        jitter: Callable[[], float] | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        if structured_output not in ("native", "tool"):
            raise ConfigurationError(
                f"structured_output must be 'native' or 'tool', got {structured_output!r}; pass "
                "structured_output='tool' for models without native structured output"
            )
        key = api_key or (None if credentials is not None else os.environ.get("AWS_BEARER_TOKEN_BEDROCK"))
        session: Any = None
        if key is None and credentials is None:
            session = _botocore_session(profile)
            credentials = session.get_credentials()
            if credentials is None:
                raise ConfigurationError(
                    "no AWS credentials for the Bedrock provider: set AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or run `aws sso login`), pass "
                    "credentials=botocore.credentials.Credentials(...), or set a Bedrock API key in "
                    "AWS_BEARER_TOKEN_BEDROCK"
                )
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region is None and key is None:
            session = session or _botocore_session(profile)
            region = session.get_config_variable("region")
        if not region:
            raise ConfigurationError(
                "no AWS region for the Bedrock provider: pass region='us-east-1' or set AWS_REGION"
            )
        self.region: str = region
        self.structured_output = structured_output
        authorize: Authorize | None = None
        headers: dict[str, str] = {}
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        else:
            authorize = _sigv4(credentials, region)
        super().__init__(
            name=name,
            dialect=BedrockConverseDialect(structured_output=structured_output),
            base_url=base_url or f"https://bedrock-runtime.{region}.amazonaws.com",
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
                authorize=authorize,
            ),
        )


def _botocore_session(profile: str | None) -> Any:
    try:
        import botocore.session
    except ImportError as exc:
        raise ConfigurationError(
            f"the Bedrock provider signs requests with botocore, which is not installed: {_INSTALL} "
            "(or use a Bedrock API key: api_key=... / AWS_BEARER_TOKEN_BEDROCK)"
        ) from exc
    return botocore.session.Session(profile=profile)
