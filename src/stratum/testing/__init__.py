"""Test any flow without an LLM: stubs, scripted and schema-driven models, cassettes.

- `stub(fn, returns=...)` answers one `@infer` function without any model;
- `ScriptedModel([...])` answers from a script through the whole attempt loop, including
  provider faults from `faults` (rate limits, 5xx, timeouts, refusals, truncation…);
- `SchemaModel(seed=0)` answers any contract with valid, deterministic data;
- `use_model(model)` routes every `@infer` (or a mapping of them) to a model in scope;
- `cassette(path)` records real provider HTTP traffic once and replays it offline;
- `block_network()` refuses real provider requests;
- the pytest plugin (`stratum.testing.plugin`) blocks the network by default and adds the
  `stratum_cassette` marker and the `stratum_records` fixture.

Example:
    ```python
    from stratum.testing import ScriptedModel, use_model

    with use_model(ScriptedModel([{"label": "positive", "confidence": 0.9, "reasoning": "..."}])):
        result = await classify(text="Love it")
    ```
"""

from __future__ import annotations

from stratum.testing._cassette import Cassette, RecordMode, UnplayedInteractionsError, cassette
from stratum.testing._doubles import stub, use_model
from stratum.testing._faults import Fault, faults
from stratum.testing._network import block_network
from stratum.testing._records import LiveStore
from stratum.testing._reply import Reply, ToolCall
from stratum.testing._schema_model import SchemaModel
from stratum.testing._scripted import ModelRequest, ScriptedModel
from stratum.testing._scrub import DEFAULT_SCRUB_HEADERS, DEFAULT_SCRUB_QUERY

__all__ = (
    "DEFAULT_SCRUB_HEADERS",
    "DEFAULT_SCRUB_QUERY",
    "Cassette",
    "Fault",
    "LiveStore",
    "ModelRequest",
    "RecordMode",
    "Reply",
    "SchemaModel",
    "ScriptedModel",
    "ToolCall",
    "UnplayedInteractionsError",
    "block_network",
    "cassette",
    "faults",
    "stub",
    "use_model",
)

for _obj in (Cassette, Fault, LiveStore, Reply, SchemaModel, ScriptedModel, ToolCall, UnplayedInteractionsError):
    _obj.__module__ = __name__
