"""Loopback servers for tests: `FaultServer`, an HTTP server that misbehaves on demand.

Use the `fault_server` fixture (defined in `tests/conftest.py`, so every test package has it)
or `with FaultServer() as server:` in scripts and benchmarks.
"""

from tests._servers.faults import (
    Fault,
    FaultServer,
    Received,
    anthropic_reply,
    chat_reply,
    gemini_reply,
)

__all__ = ("Fault", "FaultServer", "Received", "anthropic_reply", "chat_reply", "gemini_reply")
