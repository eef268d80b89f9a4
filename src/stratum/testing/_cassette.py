"""`cassette()`: record real provider HTTP traffic once, replay it offline forever.

The cassette is an interceptor on the provider HTTP seam (`stratum.providers._intercept`), not
a monkeypatch of an HTTP library: every request a built-in provider sends, fault retries
included, passes through it. Files are stock vcrpy cassettes (version 1), so vcrpy and
pytest-recording read them, and Stratum replays cassettes those tools recorded.

Each recorded request also carries `x-stratum-function`, `x-stratum-prompt-hash`,
`x-stratum-template-hash` (intent + context + contract) and `x-stratum-contract-hash`
headers. They are never sent to the provider; vcrpy keeps them as ordinary request headers.
They let a miss caused by an edited prompt or contract be reported as a stale cassette.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Literal, ParamSpec, TypeVar, cast, get_args

from stratum._runtime.model import CallSpec
from stratum._runtime.prompt import prompt_hash
from stratum.exceptions import (
    CassetteMissError,
    ConfigurationError,
    StaleCassetteError,
    StratumError,
)
from stratum.providers._intercept import Exchange, Send, add_interceptor
from stratum.testing._media_bodies import hash_media_in_body
from stratum.testing._network import send_guarded
from stratum.testing._scrub import (
    DEFAULT_SCRUB_HEADERS,
    DEFAULT_SCRUB_QUERY,
    Scrubber,
    normalize_body,
    normalize_url,
    pretty_body,
)
from stratum.testing._vcr_format import (
    RecordedRequest,
    RecordedResponse,
    dump_cassette,
    load_cassette,
)

__all__ = ("Cassette", "RecordMode", "UnplayedInteractionsError", "cassette", "template_hash")

RecordMode = Literal["none", "once", "new", "all"]
"""`none`: replay only (CI). `once`: record if the file is missing, else replay only.
`new`: replay what matches, record the rest. `all`: record everything again."""

_ALIASES: Mapping[str, RecordMode] = MappingProxyType[str, RecordMode]({"new_episodes": "new", "rewrite": "all"})
_META = ("x-stratum-function", "x-stratum-prompt-hash", "x-stratum-template-hash", "x-stratum-contract-hash")
_DROP_ON_RECORD = frozenset({"content-encoding", "content-length", "transfer-encoding"})
"""Response headers that describe the wire encoding: bodies are stored decoded."""

P = ParamSpec("P")
R = TypeVar("R")


class UnplayedInteractionsError(StratumError):
    """A cassette opened with `allow_unplayed=False` still had interactions nobody asked for."""


def template_hash(call: CallSpec) -> str:
    """Hash of what the code declares for a call: intent, context and the output contract.

    The compiled prompt hash also covers the inputs; this one changes only when the
    declaration does, which is what makes a recording stale.
    """
    return prompt_hash(f"{call.system}\n\n{call.contract_hash}")


@dataclass(slots=True)
class _Meta:
    function: str
    prompt_hash: str
    template_hash: str
    contract_hash: str

    @classmethod
    def of_call(cls, call: CallSpec | None) -> _Meta | None:
        if call is None:
            return None
        return cls(call.function, call.prompt_hash, template_hash(call), call.contract_hash)

    @classmethod
    def of_headers(cls, headers: dict[str, list[str]]) -> _Meta | None:
        lower = {k.lower(): v[0] for k, v in headers.items() if v}
        if "x-stratum-function" not in lower:
            return None
        return cls(*(lower.get(name, "") for name in _META))

    def headers(self) -> dict[str, list[str]]:
        values = (self.function, self.prompt_hash, self.template_hash, self.contract_hash)
        return {name: [value] for name, value in zip(_META, values, strict=True)}


@dataclass(slots=True)
class _Interaction:
    request: RecordedRequest
    response: RecordedResponse
    key: tuple[str, str, str]
    meta: _Meta | None
    played: bool = False
    recorded: bool = False

    def describe(self) -> str:
        who = f" ({self.meta.function})" if self.meta and self.meta.function else ""
        return f"{self.request.method} {self.request.uri}{who}"


@dataclass(slots=True)
class _State:
    interactions: list[_Interaction] = field(default_factory=list[_Interaction])
    index: dict[tuple[str, str, str], list[_Interaction]] = field(
        default_factory=dict[tuple[str, str, str], list[_Interaction]]
    )
    existed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, interaction: _Interaction) -> None:
        self.interactions.append(interaction)
        self.index.setdefault(interaction.key, []).append(interaction)


class Cassette:
    """A cassette file in use: a context manager (sync or async) and a decorator.

    Attributes:
        path: the cassette file.
        record_mode: the effective record mode.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        record_mode: str = "none",
        allow_unplayed: bool = True,
        allow_playback_repeats: bool = False,
        scrub_headers: Iterable[str] = DEFAULT_SCRUB_HEADERS,
        scrub_query: Iterable[str] = DEFAULT_SCRUB_QUERY,
    ) -> None:
        mode = _ALIASES.get(record_mode, record_mode)
        if mode not in get_args(RecordMode):
            raise ConfigurationError(
                f"record_mode={record_mode!r} is not one of 'none', 'once', 'new', 'all'; "
                "use 'none' in CI and 'once' or 'new' to record"
            )
        self.path = Path(path)
        self.record_mode: RecordMode = cast(RecordMode, mode)
        self.allow_unplayed = allow_unplayed
        self.allow_playback_repeats = allow_playback_repeats
        self._scrub_headers = tuple(scrub_headers)
        self._scrub_query = tuple(scrub_query)
        self._scrubber = Scrubber.of(self._scrub_headers, self._scrub_query)
        self._state: _State | None = None
        self._last: _State | None = None
        self._scope: Any = None

    # -- what tests can look at ------------------------------------------------------------

    @property
    def play_count(self) -> int:
        """How many recorded interactions were replayed in this scope."""
        state = self._require_state()
        return sum(1 for i in state.interactions if i.played and not i.recorded)

    @property
    def recorded_count(self) -> int:
        """How many interactions were recorded in this scope."""
        return sum(1 for i in self._require_state().interactions if i.recorded)

    @property
    def unplayed(self) -> list[str]:
        """Descriptions of the recorded interactions not replayed (yet)."""
        return [i.describe() for i in self._require_state().interactions if not i.played]

    def _require_state(self) -> _State:
        # After the block, the counters still describe the last use.
        state = self._state or self._last
        if state is None:
            raise RuntimeError("the cassette was never used; enter it with `with cassette(...):`")
        return state

    # -- context manager, decorator ---------------------------------------------------------

    def __enter__(self) -> Cassette:
        if self._state is not None:
            raise RuntimeError(f"cassette {self.path} is already in use; open a second cassette() instead")
        state = _State()
        if self.path.exists() and self.record_mode != "all":
            state.existed = True
            for request, response in load_cassette(self.path):
                state.add(self._interaction(request, response))
        elif self.path.exists():
            state.existed = True
        self._state = state
        self._scope = add_interceptor(self._intercept)
        self._scope.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        state = self._state
        if state is None:
            raise RuntimeError("the cassette is not in use")
        try:
            self._scope.__exit__(exc_type, exc, tb)
        finally:
            self._scope = None
            self._state = None
            self._last = state
        if any(i.recorded for i in state.interactions):
            keep = [i for i in state.interactions if i.recorded or self.record_mode != "all"]
            dump_cassette(self.path, [(i.request, i.response) for i in keep])
        if exc is None and not self.allow_unplayed and self.record_mode != "all":
            left = [i.describe() for i in state.interactions if not i.played]
            if left:
                listed = "\n  ".join(left[:10]) + ("\n  …" if len(left) > 10 else "")
                raise UnplayedInteractionsError(
                    f"{len(left)} interaction(s) recorded in {self.path} were never requested:\n  {listed}\n"
                    "The code makes fewer calls than when it was recorded: re-record the cassette "
                    "(record_mode='all') or pass allow_unplayed=True"
                )

    async def __aenter__(self) -> Cassette:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _fresh(self) -> Cassette:
        return Cassette(
            self.path,
            record_mode=self.record_mode,
            allow_unplayed=self.allow_unplayed,
            allow_playback_repeats=self.allow_playback_repeats,
            scrub_headers=self._scrub_headers,
            scrub_query=self._scrub_query,
        )

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Use the cassette around every call of `fn` (sync or async)."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                with self._fresh():
                    return await cast(Callable[P, Any], fn)(*args, **kwargs)

            return cast(Callable[P, R], run_async)

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with self._fresh():
                return fn(*args, **kwargs)

        return run

    # -- the interceptor --------------------------------------------------------------------

    def _interaction(self, request: RecordedRequest, response: RecordedResponse, *, recorded: bool = False) -> _Interaction:
        key = (
            request.method.upper(),
            normalize_url(request.uri, self._scrubber.query),
            normalize_body(request.body),
        )
        return _Interaction(request, response, key, _Meta.of_headers(request.headers), recorded=recorded)

    async def _intercept(self, request: Any, exchange: Exchange, send: Send, /) -> Any:
        state = self._state
        if state is None:
            raise RuntimeError(f"cassette {self.path} was used after its block ended")
        body = await _request_body(request)
        url = str(request.url)
        pairs = [(str(k), str(v)) for k, v in request.headers.multi_items()]
        secrets = self._scrubber.secrets_in(url, pairs)
        clean_body = self._scrubber.body(body, secrets)
        key = (
            str(request.method).upper(),
            normalize_url(self._scrubber.url(url, secrets), self._scrubber.query),
            normalize_body(clean_body),
        )
        meta = _Meta.of_call(exchange.call)
        replaying = self.record_mode != "all"
        recording = self.record_mode in ("new", "all") or (self.record_mode == "once" and not state.existed)
        if replaying:
            with state.lock:
                found = self._take(state, key)
            if found is not None:
                return _replay(request, found.response)
        if not recording:
            with state.lock:
                raise self._miss(state, key, meta, request)
        response = await send_guarded(request, exchange, send)
        await response.aread()
        recorded_request = RecordedRequest(
            method=str(request.method).upper(),
            uri=self._scrubber.url(url, secrets),
            body=hash_media_in_body(clean_body),
            headers={**self._scrubber.headers_of(pairs, secrets), **(meta.headers() if meta else {})},
        )
        recorded_response = RecordedResponse(
            status=int(response.status_code),
            message=str(response.reason_phrase or ""),
            headers=self._scrubber.headers_of(
                [(str(k), str(v)) for k, v in response.headers.multi_items() if str(k).lower() not in _DROP_ON_RECORD],
                secrets,
            ),
            body=self._scrubber.body(bytes(response.content), secrets),
        )
        interaction = self._interaction(recorded_request, recorded_response, recorded=True)
        interaction.played = True
        with state.lock:
            state.add(interaction)
        return response

    def _take(self, state: _State, key: tuple[str, str, str]) -> _Interaction | None:
        candidates = state.index.get(key, ())
        for interaction in candidates:
            if not interaction.played:
                interaction.played = True
                return interaction
        if self.allow_playback_repeats and candidates:
            return candidates[-1]
        return None

    def _miss(self, state: _State, key: tuple[str, str, str], meta: _Meta | None, request: Any) -> CassetteMissError:
        method, url, body = key
        who = f" from {meta.function}" if meta and meta.function else ""
        where = f"{request.method} {request.url.scheme}://{request.url.host}{request.url.path}"
        if not state.interactions:
            how = (
                f"the cassette {self.path} does not exist"
                if not state.existed
                else f"the cassette {self.path} is empty"
            )
            return CassetteMissError(
                f"no recording for {where}{who}: {how} and record_mode={self.record_mode!r} does not record. "
                "Record it once with record_mode='once' (pytest: --stratum-record-mode=once) and a real key, "
                "then commit the file"
            )
        stale = self._stale_candidate(state, meta)
        if stale is not None and meta is not None and stale.meta is not None:
            old = stale.meta
            changed: list[str] = []
            if old.template_hash != meta.template_hash:
                changed.append(f"prompt template hash {old.template_hash} -> {meta.template_hash} (intent or context changed)")
            if old.contract_hash != meta.contract_hash:
                changed.append(f"contract hash {old.contract_hash} -> {meta.contract_hash} (output contract changed)")
            return StaleCassetteError(
                f"stale cassette {self.path}: {meta.function} was recorded with another prompt or contract: "
                f"{'; '.join(changed)}; compiled prompt hash {old.prompt_hash} -> {meta.prompt_hash}. "
                "Re-record it with record_mode='all' (pytest: --stratum-record-mode=all) and commit the new file"
            )
        closest = _closest(state.interactions, method, url, body)
        recorded_body = closest.key[2]
        diff = list(
            difflib.unified_diff(
                [closest.key[0] + " " + closest.key[1], *pretty_body(recorded_body)],
                [method + " " + url, *pretty_body(body)],
                fromfile=f"recorded #{state.interactions.index(closest) + 1}",
                tofile="requested",
                lineterm="",
                n=2,
            )
        )
        if not diff:
            diff = ["(identical to a recorded request that was already played; pass allow_playback_repeats=True "
                    "or record the repeated call)"]
        shown = "\n".join(diff[:60]) + ("\n…" if len(diff) > 60 else "")
        return CassetteMissError(
            f"no recorded interaction in {self.path} matches {where}{who}. Closest recorded request:\n{shown}\n"
            "If the change is intended, re-record with record_mode='new' or 'all' "
            "(pytest: --stratum-record-mode=new); otherwise fix the inputs"
        )

    def _stale_candidate(self, state: _State, meta: _Meta | None) -> _Interaction | None:
        """The recording of the same function this request stands in for, if it is stale."""
        if meta is None or not meta.function:
            return None
        same = [i for i in state.interactions if i.meta is not None and i.meta.function == meta.function]
        if not same:
            return None
        # The same position: the first recording of this function not replayed yet.
        candidate = next((i for i in same if not i.played), same[-1])
        assert candidate.meta is not None
        if (candidate.meta.template_hash, candidate.meta.contract_hash) != (meta.template_hash, meta.contract_hash):
            return candidate
        return None


def _closest(interactions: list[_Interaction], method: str, url: str, body: str) -> _Interaction:
    pool = [i for i in interactions if i.key[:2] == (method, url)] or interactions

    def score(i: _Interaction) -> tuple[bool, float]:
        return (not i.played, difflib.SequenceMatcher(None, i.key[2], body, autojunk=False).quick_ratio())

    return max(pool, key=score)


async def _request_body(request: Any) -> bytes:
    try:
        return bytes(request.content)
    except Exception:  # noqa: BLE001 - a streamed body: read it first (httpx RequestNotRead)
        return bytes(await request.aread())


def _replay(request: Any, response: RecordedResponse) -> Any:
    module = __import__(type(request).__module__.partition(".")[0])
    headers = [(name, value) for name, values in response.headers.items() for value in values]
    extensions = {"reason_phrase": response.message.encode("ascii", "replace")} if response.message else None
    # `content=` makes httpx decode a recorded gzip body (Content-Encoding kept by other tools).
    return module.Response(
        response.status, headers=headers, content=response.body, request=request, extensions=extensions
    )


def cassette(
    path: str | Path,
    *,
    record_mode: str = "none",
    allow_unplayed: bool = True,
    allow_playback_repeats: bool = False,
    scrub_headers: Iterable[str] = DEFAULT_SCRUB_HEADERS,
    scrub_query: Iterable[str] = DEFAULT_SCRUB_QUERY,
) -> Cassette:
    """Record provider HTTP traffic to `path` and replay it offline (stock vcrpy format).

    Requests match on method, URL (secret query parameters removed) and the JSON body with key
    order and whitespace ignored. Before anything is written, `scrub_headers` (auth, cookies,
    org/project ids) and `scrub_query` (`?key=`) are removed, and their values are replaced
    wherever else they appear.

    Args:
        path: the cassette file (`.yaml`).
        record_mode: `"none"` replays only (the CI default), `"once"` records when the file is
            missing, `"new"` records requests with no match, `"all"` records everything again.
        allow_unplayed: False makes leaving the block with interactions never requested an
            `UnplayedInteractionsError`.
        allow_playback_repeats: let one recorded interaction answer identical requests again.
        scrub_headers: header names never written (case-insensitive).
        scrub_query: query parameter names never written.

    Raises:
        CassetteMissError: at the call, when no recorded request matches (with a diff against
            the closest recorded request).
        StaleCassetteError: at the call, when the function's recording was made with another
            intent/context or contract (the message shows both hashes).

    Example:
        ```python
        with cassette("tests/cassettes/classify.yaml"):
            assert (await classify(text="Love it")).label == "positive"
        ```
    """
    return Cassette(
        path,
        record_mode=record_mode,
        allow_unplayed=allow_unplayed,
        allow_playback_repeats=allow_playback_repeats,
        scrub_headers=scrub_headers,
        scrub_query=scrub_query,
    )
