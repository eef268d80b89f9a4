"""A @compute function's signature and docstring become a tool schema; arguments are checked
before the function runs, and a bad one is described to the model precisely."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import Field

from stratum import compute
from stratum._runtime.tools import build_tools, tool_from
from stratum.exceptions import StratumCompileError


@compute
def lookup_order(order_id: str, include_items: bool = False) -> dict[str, object]:
    """Look up an order by its id.

    Returns the order's status and, on request, its items.

    Args:
        order_id: The order's id, like "A-17".
        include_items: Also list the items.
    """
    return {"order_id": order_id, "status": "shipped"}


@compute
async def refund_policy(region: Literal["eu", "us"], days: Annotated[int, Field(ge=0)] = 30, json: str = "") -> str:
    """The refund policy of a region."""
    return f"{region}: {days} days"


def test_schema_comes_from_signature_and_docstring() -> None:
    tool = tool_from(lookup_order, "here")
    assert tool.name == "lookup_order"
    assert tool.definition.description == "Look up an order by its id.\n\nReturns the order's status and, on request, its items."
    assert tool.definition.parameters == {
        "type": "object",
        "properties": {
            "order_id": {"type": "string", "description": 'The order\'s id, like "A-17".'},
            "include_items": {"type": "boolean", "default": False, "description": "Also list the items."},
        },
        "required": ["order_id"],
        "additionalProperties": False,
    }
    assert not tool.is_async


def test_constraints_and_literals_reach_the_schema_and_names_may_shadow_basemodel() -> None:
    tool = tool_from(refund_policy, "here")
    props = tool.definition.parameters["properties"]
    assert props["region"] == {"enum": ["eu", "us"], "type": "string"}
    assert props["days"]["minimum"] == 0
    assert "json" in props  # a parameter named like a BaseModel method is fine
    assert tool.is_async


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param({}, "argument 'order_id' is required", id="missing"),
        pytest.param({"order_id": "A-1", "verbose": True}, "there is no argument 'verbose' (the arguments are: order_id, include_items)", id="extra"),
        pytest.param({"order_id": 17}, "argument 'order_id': Input should be a valid string (got 17)", id="wrong-type"),
        pytest.param('{"order_id": ', "must be a JSON object", id="not-json"),
    ],
)
def test_bad_arguments_get_a_targeted_message(arguments: object, message: str) -> None:
    tool = tool_from(lookup_order, "here")
    result = tool.validate(arguments)  # type: ignore[arg-type]
    assert isinstance(result, str)
    assert message in result


def test_good_arguments_are_validated_and_defaulted() -> None:
    tool = tool_from(refund_policy, "here")
    assert tool.validate({"region": "eu"}) == {"region": "eu", "days": 30, "json": ""}
    assert "Input should be greater than or equal to 0" in str(tool.validate({"region": "eu", "days": -1}))


def plain(x: int) -> int:
    return x


def test_only_compute_functions_are_tools() -> None:
    with pytest.raises(StratumCompileError, match="tools must be @compute functions, got plain; decorate it with @compute"):
        build_tools([plain], 5, "@infer 'f'")


def test_tool_names_are_unique_and_rounds_positive() -> None:
    with pytest.raises(StratumCompileError, match="two tools are named 'lookup_order'"):
        build_tools([lookup_order, lookup_order], 5, "@infer 'f'")
    with pytest.raises(StratumCompileError, match="max_tool_rounds must be an int >= 1"):
        build_tools([lookup_order], 0, "@infer 'f'")


@compute
def star(*names: str) -> int:
    return len(names)


def test_star_parameters_are_refused() -> None:
    with pytest.raises(StratumCompileError, match="must be named"):
        tool_from(star, "here")
