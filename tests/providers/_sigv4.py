"""An independent AWS Signature Version 4 *verifier*, written from AWS's published algorithm.

It is checked against AWS's documented example (the IAM `ListUsers` request signed with
`AKIDEXAMPLE` at 20150830T123600Z, signature `5d672d79...`) before it is trusted to judge what
the Bedrock provider actually sends over a loopback socket.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlsplit

_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<scope>[^,]+), ?SignedHeaders=(?P<signed>[^,]+), ?Signature=(?P<sig>[0-9a-f]{64})$"
)


def _mac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def canonical_request(method: str, target: str, headers: Mapping[str, str], signed: list[str], body: bytes) -> str:
    """`target` is the path and query exactly as sent on the wire (still percent-encoded)."""
    parts = urlsplit(target)
    uri = quote(parts.path or "/", safe="/~")  # non-S3 services: the sent path is encoded again
    query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted(parse_qsl(parts.query, keep_blank_values=True))
    )
    lowered = {k.lower(): " ".join(v.strip().split()) for k, v in headers.items()}
    canonical_headers = "".join(f"{name}:{lowered[name]}\n" for name in signed)
    return "\n".join(
        [method, uri, query, canonical_headers, ";".join(signed), hashlib.sha256(body).hexdigest()]
    )


def signature(secret: str, scope: str, amz_date: str, canonical: str) -> str:
    date, region, service, _ = scope.split("/")
    key = _mac(_mac(_mac(_mac(f"AWS4{secret}".encode(), date), region), service), "aws4_request")
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def verify(
    method: str, target: str, headers: Mapping[str, str], body: bytes, *, access_key: str, secret: str
) -> tuple[bool, str]:
    """(valid, why) for a received request; `headers` as received."""
    lowered = {k.lower(): v for k, v in headers.items()}
    found = _AUTH.match(lowered.get("authorization", ""))
    if found is None:
        return False, "no SigV4 authorization header"
    if found["key"] != access_key:
        return False, "another access key"
    signed = found["signed"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return False, "host and x-amz-date must be signed"
    if any(name not in lowered for name in signed):
        return False, "a signed header is missing"
    canonical = canonical_request(method, target, lowered, signed, body)
    expected = signature(secret, found["scope"], lowered["x-amz-date"], canonical)
    return hmac.compare_digest(expected, found["sig"]), found["scope"]
