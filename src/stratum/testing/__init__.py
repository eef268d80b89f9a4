"""Test any flow without an LLM: stubs, scripted models, model overrides.

Example:
    ```python
    from stratum.testing import ScriptedModel, use_model

    with use_model(ScriptedModel([{"label": "positive", "confidence": 0.9, "reasoning": "..."}])):
        result = await classify(text="Love it")
    ```
"""

from __future__ import annotations

from stratum.testing._doubles import stub, use_model
from stratum.testing._scripted import ModelRequest, Reply, ScriptedModel

__all__ = ("ModelRequest", "Reply", "ScriptedModel", "stub", "use_model")

for _obj in (Reply, ScriptedModel):
    _obj.__module__ = __name__
