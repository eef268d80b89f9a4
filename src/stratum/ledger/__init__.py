"""Shared budget ledgers: one envelope for every process and machine that names it.

`Budget(usd=..., tokens=..., ledger="redis://host:port/db", key="name")` keeps the envelope's
totals in Redis instead of in the process: reserve, settle and release run as atomic Lua
scripts on the server, so any number of workers draw from one envelope and its total never
passes the limit; a reservation has a lease, so a worker that dies mid-call gives its
reservation back once the lease runs out; each threshold fires once per envelope, in the
process whose settlement crossed it. Pass a `RedisLedger` instead of a URL to choose the lease
or the key prefix, or to read (`state`) and clear (`reset`) an envelope.

Needs the optional extra: `pip install 'stratum[redis]'`.
"""

from __future__ import annotations

from stratum.ledger._redis import LedgerState, RedisLedger

__all__ = ("LedgerState", "RedisLedger")
