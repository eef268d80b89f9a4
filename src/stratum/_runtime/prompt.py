"""The prompt compiler: deterministic messages and hashes for one `@infer` call.

Assembly order (SPEC §4.1): intent, context, the non-opaque inputs, and a reference to the
opaque data, which travels as a separate JSON `data` message and never inside instruction
text. A retry adds exactly two messages, the last output and its violations, so a request
never grows with the attempt number.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from stratum._util.frozen import fast_frozen_init
from stratum._media import Media, find_media, replace_media
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


@fast_frozen_init
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
    media: bool = False,
) -> Prompt:
    """Assemble the messages of the first attempt.

    `system` is the precomputed intent + context text; `extra_sections` (e.g. refine feedback)
    come after the inputs. `media` says some parameter may hold media inputs (decided at
    decoration time, so calls without any never look for them).
    """
    if media:
        found: list[tuple[str, Media]] = []
        for name, value in bound.items():
            find_media(value, name, found)
        if found:
            return _compile_with_media(system, template_hash, bound, opaque_params, extra_sections, found)
    lines: list[str] = []
    attachments: dict[str, Any] = {}
    for name, value in bound.items():
        if name in opaque_params:
            attachments[name] = to_jsonable(value)
        elif type(value) is str:
            lines.append(f"{name}: {value}")
        elif isinstance(value, BaseModel):
            lines.append(f"{name}: {_split_contract(name, value, attachments)}")
        else:
            lines.append(f"{name}: {_format(value)}")
    if extra_sections or attachments:
        user_parts = ["\n".join(lines)] if lines else []
        user_parts.extend(extra_sections)
        if attachments:
            user_parts.append("See attached data for: " + ", ".join(sorted(attachments)))
        user = "\n\n".join(user_parts) or "(no inputs)"
    else:
        user = "\n".join(lines) or "(no inputs)"
    text = f"{system}\n\n{user}"
    if attachments:
        data = json.dumps(attachments, ensure_ascii=False, sort_keys=True, default=str)
        text = f"{text}\n\n{data}"
        messages: tuple[Message, ...] = (_system_message(system), Message("user", user), Message("user", data, "data"))
    else:
        messages = (_system_message(system), Message("user", user))
    return Prompt(messages, text, prompt_hash(text), template_hash, attachments)


@functools.lru_cache(maxsize=1024)
def _system_message(system: str) -> Message:
    """The system message of a function: the same text (intent and context) on every call."""
    return Message("system", system)


def _compile_with_media(
    system: str,
    template_hash: str,
    bound: Mapping[str, Any],
    opaque_params: frozenset[str],
    extra_sections: Sequence[str],
    found: list[tuple[str, Media]],
) -> Prompt:
    """`compile_prompt` for a call with media inputs: each travels as its own `media` message.

    The instruction text names each input and shows its reference (type, size, SHA-256) where
    the value would be; the prompt hash covers every input's full SHA-256.
    """
    shown: dict[str, Any] = {}
    for name, value in bound.items():
        if isinstance(value, Media):
            shown[name] = f"[{value.label}; attached below as {name!r}]"
        elif isinstance(value, BaseModel) and name not in opaque_params:
            shown[name] = value  # model_dump(mode="json") writes its media fields as references
        else:
            shown[name] = replace_media(value)
    base = compile_prompt(
        system=system, template_hash=template_hash, bound=shown, opaque_params=opaque_params, extra_sections=extra_sections
    )
    parts = tuple(Message("user", f"{path} ({item.kind}, {item.media_type}):", "media", item) for path, item in found)
    # media go right after the instruction text, before the opaque data attachment
    messages = (*base.messages[:2], *parts, *base.messages[2:])
    text = base.text + "\n\n" + "\n".join(f"{path}: {item.kind} {item.media_type} sha256 {item.sha256}" for path, item in found)
    return Prompt(messages, text, prompt_hash(text), template_hash, base.attachments)


def retry_messages(prompt: Prompt, last_output: str, violations: Sequence[str]) -> tuple[tuple[Message, ...], str]:
    """The messages of a retry: the base prompt, the last output, and only its violations."""
    listed = "\n".join(f"- {v}" for v in violations)
    feedback = f"Your previous answer failed these checks:\n{listed}\nFix these issues specifically and answer again in full."
    messages = (*prompt.messages, Message("assistant", last_output or "(empty output)"), Message("user", feedback))
    return messages, prompt_hash(f"{prompt.text}\n\n{last_output}\n\n{feedback}")
