"""The README's quickstart runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import stratum.trace

ROOT = Path(__file__).resolve().parents[2]


def test_readme_quickstart_runs(capsys: object) -> None:
    text = (ROOT / "README.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    namespace: dict[str, object] = {"__name__": "readme"}
    exec(compile(snippet, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    records = stratum.trace.records()
    assert records[-1].attempts == 2 and records[-1].status == "ok"


def test_architecture_names_real_files_and_functions() -> None:
    """Every `path.py:name` in docs/architecture.md is a file of the package defining that name."""
    import ast

    text = (ROOT / "docs" / "architecture.md").read_text()
    refs = set(re.findall(r"`?((?:_runtime|_compose|providers|pricing|trace)/\w+\.py):([\w.]+)", text))
    assert len(refs) >= 20
    missing: list[str] = []
    for path, dotted in sorted(refs):
        source = ROOT / "src" / "stratum" / path
        tree = ast.parse(source.read_text())
        scope: list[ast.stmt] = tree.body
        for part in dotted.split("."):
            found = next(
                (n for n in scope if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and n.name == part),
                None,
            )
            if found is None:
                missing.append(f"{path}:{dotted}")
                break
            scope = found.body
    assert missing == []
    # The module map lists every module of the core packages.
    for package in ("_runtime", "_compose"):
        for module in (ROOT / "src" / "stratum" / package).glob("*.py"):
            if module.name != "__init__.py":
                assert module.name in text, f"docs/architecture.md does not mention {package}/{module.name}"


def test_streaming_guide_example_runs(capsys: object) -> None:
    text = (ROOT / "docs" / "streaming.md").read_text()
    runnable = [s for s in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "anyio.run(main)" in s]
    (snippet,) = runnable
    namespace: dict[str, object] = {"__name__": "streaming_guide"}
    exec(compile(snippet, "docs/streaming.md", "exec"), namespace)  # noqa: S102 - our own documentation
    record = stratum.trace.records()[-1]
    assert record.function.endswith("classify") and record.attempts == 2 and record.status == "ok"
