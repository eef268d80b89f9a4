"""`SchemaModel`: a model that answers any call with schema-valid, deterministic data."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter

from stratum._runtime.model import CallSpec, Completion, Usage
from stratum.exceptions import ConfigurationError
from stratum.pricing._estimate import estimate_text_tokens
from stratum.pricing._price import FREE, Price
from stratum.testing._schema_data import generate

__all__ = ("SchemaModel",)

_TEXT_WORDS = (
    "the", "quick", "report", "shows", "steady", "growth", "across", "every", "region", "and",
    "customers", "describe", "the", "service", "as", "reliable", "with", "minor", "delays", "noted",
)  # fmt: skip


class SchemaModel:
    """A model object that returns schema-valid data for any contract, with zero setup.

    It walks the JSON Schema the runtime requests (`CallSpec.output_schema`): enums, bounds,
    lengths, simple patterns, formats, nested contracts, lists and optionals. A `-> str`
    function gets a short plain-text sentence. Calls are free and need no network.

    Each answer depends only on `seed`, the function, the compiled prompt, the attempt and
    how many times that same request was seen, so the same seed gives the same sequence
    (also when calls run concurrently). `ensure` checks are not known to the model: a
    postcondition stricter than the contract may still fail.

    Example:
        ```python
        with use_model(SchemaModel(seed=0)):
            report = await weekly_report(week=12)   # a whole flow, no script
        ```
    """

    name = "schema"
    model_name = "schema"
    __test__ = False

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.price: Price = FREE
        self.requests: list[CallSpec] = []
        self._seen: Counter[str] = Counter()

    def _rng(self, call: CallSpec) -> random.Random:
        key = f"{call.function}|{call.prompt_hash}|{call.attempt}|{call.contract_hash}"
        nth = self._seen[key]
        self._seen[key] += 1
        digest = hashlib.sha256(f"{self.seed}|{key}|{nth}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    async def complete(self, call: CallSpec, /) -> Completion:
        """Answer `call` with data generated from its output schema."""
        self.requests.append(call)
        rng = self._rng(call)
        if call.output_schema is None:
            words = [rng.choice(_TEXT_WORDS) for _ in range(rng.randint(6, 14))]
            text = " ".join(words).capitalize() + "."
        else:
            try:
                text = json.dumps(generate(call.output_schema, rng), ensure_ascii=False)
            except ValueError as exc:  # SchemaDataError, or a pattern it cannot satisfy
                raise ConfigurationError(
                    f"SchemaModel cannot generate {call.output_name} for {call.function or 'this call'}: "
                    f"{str(exc).rstrip(' .')}. Script this call with ScriptedModel or stub(...)"
                ) from None
        usage = Usage(
            input_tokens=sum(estimate_text_tokens(m.content) for m in call.messages),
            output_tokens=max(estimate_text_tokens(text), 1),
        )
        return Completion(text=text, finish_reason="stop", usage=usage, model=self.model_name)

    def __repr__(self) -> str:
        return f"SchemaModel(seed={self.seed})"
