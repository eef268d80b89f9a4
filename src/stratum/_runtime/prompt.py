"""The prompt compiler: deterministic messages and hashes for one `@infer` call.

Assembly order (SPEC §4.1): intent, context, the non-opaque inputs, and a reference to the
opaque data, which travels as a separate JSON `data` message and never inside instruction
text. A retry adds exactly two messages, the last output and its violations, so a request
never grows with the attempt number.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from stratum._runtime.contracts import contract_info
from stratum._runtime.model import Message
from stratum._util.jsonable import to_jsonable

__all__ = ("Prompt", "compile_prompt", "prompt_hash", "retry_messages")


def prompt_hash(text: str) -> str:
    """SHA-256 of the assembled prompt text, first 12 hex chars."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _format(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float) or value is None:
        return json.dumps(value)
    return json.dumps(to_jsonable(value), ensure_ascii=False, sort_keys=True, default=str)


def _split_contract(name: str, value: BaseModel, attachments: dict[str, Any]) -> str:
    """Inline a contract instance's plain fields; move its opaque fields to the attachment."""
    info = contract_info(type(value))
    if info is None or not info.opaque_fields:
        return _format(value)
    data = value.model_dump(mode="json")
    for field in sorted(info.opaque_fields):
        attachments[f"{name}.{field}"] = data.pop(field, None)
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True, slots=True)
class Prompt:
    """The compiled first-attempt request of one call."""

    messages: tuple[Message, ...]
    text: str
    """The assembled prompt string (what `hash` covers), attachment included."""
    hash: str
    template_hash: str
    """Hash of intent and context only: the same across inputs (used to spot stale cassettes)."""
    attachments: Mapping[str, Any]


def compile_prompt(
    *,
    system: str,
    template_hash: str,
    bound: Mapping[str, Any],
    opaque_params: frozenset[str],
    extra_sections: Sequence[str] = (),
) -> Prompt:
    """Assemble the messages of the first attempt.

    `system` is the precomputed intent + context text; `extra_sections` (e.g. refine feedback)
    come after the inputs.
    """
    lines: list[str] = []
    attachments: dict[str, Any] = {}
    for name, value in bound.items():
        if name in opaque_params:
            attachments[name] = to_jsonable(value)
            continue
        if isinstance(value, BaseModel):
            lines.append(f"{name}: {_split_contract(name, value, attachments)}")
        else:
            lines.append(f"{name}: {_format(value)}")
    user_parts = ["\n".join(lines)] if lines else []
    user_parts.extend(extra_sections)
    if attachments:
        user_parts.append("See attached data for: " + ", ".join(sorted(attachments)))
    user = "\n\n".join(user_parts) or "(no inputs)"
    messages = [Message("system", system), Message("user", user)]
    text = f"{system}\n\n{user}"
    if attachments:
        data = json.dumps(attachments, ensure_ascii=False, sort_keys=True, default=str)
        messages.append(Message("user", data, "data"))
        text = f"{text}\n\n{data}"
    return Prompt(tuple(messages), text, prompt_hash(text), template_hash, attachments)


def retry_messages(prompt: Prompt, last_output: str, violations: Sequence[str]) -> tuple[tuple[Message, ...], str]:
    """The messages of a retry: the base prompt, the last output, and only its violations."""
    listed = "\n".join(f"- {v}" for v in violations)
    feedback = f"Your previous answer failed these checks:\n{listed}\nFix these issues specifically and answer again in full."
    messages = (*prompt.messages, Message("assistant", last_output or "(empty output)"), Message("user", feedback))
    return messages, prompt_hash(f"{prompt.text}\n\n{last_output}\n\n{feedback}")
