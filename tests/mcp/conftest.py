from __future__ import annotations

import copy
from typing import Any

import pytest

SEED_PLAN: dict[str, Any] = {
    "name": "Add rate limiting to all API endpoints",
    "contracts": {
        "RouteList": {
            "type": "object",
            "properties": {"routes": {"type": "array", "items": {"type": "string"}}},
            "required": ["routes"],
        },
        "MiddlewareSpec": {
            "type": "object",
            "properties": {"algorithm": {"const": "token_bucket"}, "exclude": {"type": "array"}},
            "required": ["algorithm"],
        },
        "MiddlewareCode": {
            "type": "object",
            "properties": {"files": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
            "required": ["files"],
        },
        "TestSuite": {
            "type": "object",
            "properties": {"passed": {"type": "integer"}, "total": {"type": "integer"}},
            "required": ["passed", "total"],
        },
    },
    "steps": [
        {"id": "1", "fn": "read_routes", "output": "RouteList"},
        {"id": "2", "fn": "design_middleware", "output": "MiddlewareSpec", "depends_on": ["1"]},
        {"id": "3", "fn": "implement_middleware", "output": "MiddlewareCode", "depends_on": ["2"]},
        {
            "id": "4",
            "fn": "write_tests",
            "output": "TestSuite",
            "depends_on": ["3"],
            "ensure": ["result.passed == result.total"],
        },
    ],
    "budget": "~8 tool calls, ~3 minutes",
}
"""The seed's ExecutionPlan, written in the plan format (ensure "all tests pass" as an expression)."""


@pytest.fixture
def seed_plan() -> dict[str, Any]:
    return copy.deepcopy(SEED_PLAN)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
