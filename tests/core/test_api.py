from __future__ import annotations

import importlib
import types

import pytest

import stratum
import stratum.exceptions
from stratum import StratumError

PUBLIC_MODULES = ["stratum", "stratum.exceptions", "stratum.trace", "stratum.testing", "stratum.pricing", "stratum.providers"]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_lists_existing_public_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert list(exported) == sorted(set(exported), key=list(exported).index), "duplicates in __all__"
    for attr in exported:
        assert hasattr(module, attr), f"{name}.{attr} is in __all__ but missing"
        assert not attr.startswith("_") or attr == "__version__"


def test_every_error_is_a_stratum_error_and_reexported() -> None:
    for attr in stratum.exceptions.__all__:
        cls = getattr(stratum.exceptions, attr)
        assert issubclass(cls, StratumError)
        assert getattr(stratum, attr) is cls


def test_public_classes_report_public_modules() -> None:
    assert repr(stratum.Budget(usd=1)) == "Budget(usd=Decimal('1'))"
    assert stratum.Budget.__module__ == "stratum"
    assert stratum.trace.TraceRecord.__module__ == "stratum.trace"


def test_run_drives_a_call_from_sync_code() -> None:
    from stratum.testing import ScriptedModel, use_model

    @stratum.infer("Say hi")
    def hi() -> str: ...

    with use_model(ScriptedModel(["hi"])):
        assert stratum.run(hi()) == "hi"


@pytest.mark.anyio
async def test_run_refuses_inside_a_running_loop() -> None:
    async def nothing() -> None: ...

    with pytest.raises(RuntimeError, match="inside a running event loop"):
        stratum.run(nothing())


def test_configure_restores_on_exit() -> None:
    before = stratum._runtime.config.current_settings()
    with stratum.configure(default_model="openai:gpt-4.1-mini", sample_n=3) as handle:
        assert stratum._runtime.config.current_settings().default_model == "openai:gpt-4.1-mini"
        assert handle.settings.sample_n == 3
    assert stratum._runtime.config.current_settings() is before
    with pytest.raises(stratum.ConfigurationError, match="no ':'"):
        stratum.configure(providers={"a:b": object()})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("openrouter:google/gemini-2.0-flash-exp:free", ("openrouter", "google/gemini-2.0-flash-exp:free")),
        ("ollama:llama3.2:3b", ("ollama", "llama3.2:3b")),
    ],
)
def test_model_strings_split_on_the_first_colon(model: str, expected: tuple[str, str]) -> None:
    from stratum.providers import split_model_string

    assert split_model_string(model) == expected


def test_model_string_without_provider_is_explained() -> None:
    from stratum.providers import split_model_string

    with pytest.raises(stratum.ConfigurationError, match="provider:model"):
        split_model_string("gpt-4o")


def test_no_mutable_module_globals_in_core() -> None:
    """Module-level state is constants only: no lists, dicts or sets bound at module level."""
    import pkgutil

    offenders: list[str] = []
    for info in pkgutil.walk_packages(stratum.__path__, "stratum."):
        if info.name.startswith("stratum.mcp") or info.name.endswith(("plugin", "__main__")):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:
            continue
        for attr, value in vars(module).items():
            if attr.startswith("__") or isinstance(value, types.ModuleType):
                continue
            if type(value) in (list, dict, set):
                offenders.append(f"{info.name}.{attr}")
    assert offenders == []


def test_fresh_scope_sets_every_context_variable() -> None:
    """The pytest plugin's scope resets every Stratum variable, including ones added later."""
    import contextvars

    from stratum._runtime import context

    variables = [v for v in vars(context).values() if isinstance(v, contextvars.ContextVar)]
    assert len(variables) >= 10
    sentinel = object()

    def check() -> None:
        for var in variables:
            var.set(sentinel)  # pyright: ignore[reportUnknownMemberType]
        with context.fresh_scope(settings=None):
            leftover = [var.name for var in variables if var.get() is sentinel]  # pyright: ignore[reportUnknownMemberType]
        assert leftover == []

    contextvars.copy_context().run(check)
