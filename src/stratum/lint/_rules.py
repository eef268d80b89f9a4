"""AST rules: LLM calls made outside Stratum, and hand-written retry loops around them.

- STR001: a provider SDK call (openai, anthropic, google-genai, litellm) in a module that
  imports that SDK. Attribute chains are matched by suffix (`client.chat.completions.create`),
  so the client's variable name does not matter.
- STR002: a raw HTTP POST (requests, httpx, httpx2, aiohttp) whose URL names a provider endpoint,
  as a literal, an f-string, a concatenation, or a module-level constant.
- STR003: a `for`/`while` loop whose body catches exceptions around an LLM call (the
  hand-made retry), or a tenacity/backoff retry decorator on a function making an LLM call.

A finding on a line carrying `# stratum: ignore` (all codes) or `# stratum: ignore[STR001]`
is suppressed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ("CODES", "Finding", "check_source")

CODES: Mapping[str, str] = MappingProxyType({
    "STR001": "LLM SDK call outside Stratum",
    "STR002": "raw HTTP call to an LLM provider endpoint",
    "STR003": "hand-written retry loop around an LLM call",
})
"""Every rule code and its title."""

_SDK_ROOTS: Mapping[str, str] = MappingProxyType({
    "openai": "openai", "anthropic": "anthropic", "google.genai": "google-genai",
    "google.generativeai": "google-genai", "litellm": "litellm", "vertexai": "google-genai",
})
# Attribute-chain suffixes that are model calls, per SDK family.
_CALL_SUFFIXES: Mapping[str, tuple[tuple[str, ...], ...]] = MappingProxyType({
    "openai": (("chat", "completions", "create"), ("chat", "completions", "parse"), ("responses", "create"),
               ("responses", "parse"), ("completions", "create"), ("beta", "chat", "completions", "parse"),
               ("ChatCompletion", "create"), ("Completion", "create")),
    "anthropic": (("messages", "create"), ("messages", "stream"), ("messages", "parse"), ("completions", "create"),
                  ("beta", "messages", "create")),
    "google-genai": (("models", "generate_content"), ("models", "generate_content_stream"), ("generate_content",),
                     ("generate_content_async",), ("send_message",)),
    "litellm": (("completion",), ("acompletion",), ("text_completion",), ("responses",), ("aresponses",)),
})
_PROVIDER_HOSTS = (
    "api.openai.com", "api.anthropic.com", "generativelanguage.googleapis.com", "aiplatform.googleapis.com",
    "api.mistral.ai", "api.groq.com", "openrouter.ai", "api.together.xyz", "api.together.ai", "api.deepseek.com",
    "api.cohere.ai", "api.cohere.com", "api.x.ai", "api.fireworks.ai", "api.perplexity.ai",
    "openai.azure.com", "bedrock-runtime",
)
_HTTP_ROOTS = frozenset({"requests", "httpx", "httpx2", "aiohttp"})
_HTTP_METHODS = frozenset({"post", "request", "stream"})
_RETRY_DECORATORS = frozenset({"retry", "on_exception", "on_predicate", "retry_if_exception_type"})
_RETRY_MODULES = frozenset({"tenacity", "backoff", "stamina", "retrying"})
_RELEVANT = re.compile(
    r"\b(?:openai|anthropic|genai|generativeai|litellm|vertexai|requests|httpx2?|aiohttp)\b|"
    + "|".join(re.escape(h) for h in _PROVIDER_HOSTS)
)
_IGNORE = re.compile(r"#\s*stratum:\s*ignore(?:\[(?P<codes>[A-Z0-9,\s]+)\])?")


@dataclass(frozen=True, slots=True)
class Finding:
    """One lint finding."""

    path: str
    line: int
    col: int
    code: str
    message: str

    def format(self) -> str:
        """`path:line:col CODE message`."""
        return f"{self.path}:{self.line}:{self.col} {self.code} {self.message}"

    def to_json(self) -> dict[str, object]:
        """The finding as a JSON object."""
        return {"path": self.path, "line": self.line, "col": self.col, "code": self.code, "message": self.message}


def _chain(node: ast.expr) -> list[str]:
    """`a.b.c` → ["a", "b", "c"]; a call in the chain (`genai.Client().models`) keeps its name."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            break
        else:
            break
    return parts[::-1]


class _Module:
    """What the module imports, and its module-level string constants."""

    def __init__(self, tree: ast.Module) -> None:
        self.families: set[str] = set()
        self.aliases: dict[str, str] = {}  # local name -> family, for `from litellm import completion`
        self.http: set[str] = set()
        self.retry_names: set[str] = set()
        self.constants: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self._imported(alias.name, alias.asname or alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    local = alias.asname or alias.name
                    self._imported(node.module, None)
                    family = _family(node.module) or _family(f"{node.module}.{alias.name}")
                    if family:
                        self.families.add(family)
                        self.aliases[local] = family
                    if node.module.split(".")[0] in _HTTP_ROOTS:
                        self.http.add(local)
                    if node.module.split(".")[0] in _RETRY_MODULES:
                        self.retry_names.add(local)
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        self.constants[target.id] = stmt.value.value

    def _imported(self, module: str, local: str | None) -> None:
        family = _family(module)
        if family:
            self.families.add(family)
            if local:
                self.aliases.setdefault(local, family)
        root = module.split(".")[0]
        if root in _HTTP_ROOTS and local:
            self.http.add(local)
        if root in _RETRY_MODULES and local:
            self.retry_names.add(local)


def _family(module: str) -> str | None:
    for prefix, family in _SDK_ROOTS.items():
        if module == prefix or module.startswith(prefix + "."):
            return family
    return None


class _Visitor:
    def __init__(self, path: str, module: _Module) -> None:
        self.path = path
        self.mod = module
        self.findings: list[Finding] = []

    def llm_call(self, node: ast.Call) -> str | None:
        """A description of the LLM call `node` makes, or None."""
        chain = _chain(node.func)
        if not chain:
            return None
        best: tuple[int, str] | None = None  # the longest matching suffix names the SDK
        for family in sorted(self.mod.families):
            for suffix in _CALL_SUFFIXES[family]:
                if len(chain) > len(suffix) and tuple(chain[-len(suffix):]) == suffix:
                    if best is None or len(suffix) > best[0]:
                        best = (len(suffix), family)
                if len(chain) == len(suffix) == 1 and chain[0] == suffix[0] and self.mod.aliases.get(chain[0]) == family:
                    return f"{family} call {chain[0]}()"
        if best is not None:
            return f"{best[1]} call {'.'.join(chain)}()"
        if len(chain) >= 2 and chain[-1] in _HTTP_METHODS:
            url = self.url_of(node)
            if url is not None:
                return f"HTTP {chain[-1].upper() if chain[-1] == 'post' else chain[-1]} to {url}"
        return None

    def url_of(self, node: ast.Call) -> str | None:
        candidates: list[ast.expr] = list(node.args[:2])
        candidates += [k.value for k in node.keywords if k.arg in ("url", "base_url")]
        for expr in candidates:
            for text in self.strings(expr):
                for host in _PROVIDER_HOSTS:
                    if host in text:
                        return host
        return None

    def strings(self, expr: ast.expr) -> Iterator[str]:
        for sub in ast.walk(expr):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                yield sub.value
            elif isinstance(sub, ast.Name) and sub.id in self.mod.constants:
                yield self.mod.constants[sub.id]

    def run(self, tree: ast.Module) -> None:
        calls: dict[int, tuple[ast.Call, str]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                what = self.llm_call(node)
                if what is not None:
                    calls[id(node)] = (node, what)
                    code = "STR002" if what.startswith("HTTP ") else "STR001"
                    hint = (
                        "use an @infer function with a @contract return instead"
                        if code == "STR001"
                        else "use an @infer function (its provider sends the request) instead"
                    )
                    self.add(node, code, f"{what} outside Stratum; {hint}")
        if not calls:
            return
        for node in ast.walk(tree):
            if isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
                if self.retry_loop(node, calls):
                    self.add(node, "STR003", "hand-written retry loop around an LLM call; use @infer(retries=N, ensure=...) which retries with only the violations")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found = self.retry_decorator(node.decorator_list)
                if found is not None and any(id(n) in calls for n in ast.walk(node)):
                    dec, name = found
                    self.add(dec, "STR003", f"@{name} retry decorator around an LLM call; use @infer(retries=N) instead")

    def retry_loop(self, loop: ast.For | ast.AsyncFor | ast.While, calls: Mapping[int, tuple[ast.Call, str]]) -> bool:
        for stmt in loop.body:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Try) and node.handlers:
                    if any(id(n) in calls for part in node.body for n in ast.walk(part)):
                        return True
        return False

    def retry_decorator(self, decorators: Sequence[ast.expr]) -> tuple[ast.expr, str] | None:
        for dec in decorators:
            target = dec.func if isinstance(dec, ast.Call) else dec
            chain = _chain(target)
            if not chain:
                continue
            if chain[-1] in _RETRY_DECORATORS and (chain[0] in self.mod.retry_names or chain[0] in _RETRY_MODULES):
                return dec, ".".join(chain)
        return None

    def add(self, node: ast.stmt | ast.expr, code: str, message: str) -> None:
        self.findings.append(Finding(self.path, node.lineno, node.col_offset + 1, code, message))


def check_source(source: str, path: str = "<string>") -> list[Finding]:
    """Lint Python `source`; returns findings sorted by position, suppressions applied.

    Raises:
        SyntaxError: the source does not parse.
    """
    # Always parse: a file that does not parse was not checked, and the caller must hear it.
    tree = ast.parse(source, filename=path)
    if _RELEVANT.search(source) is None:
        return []  # names no SDK, HTTP client or provider host: skip the walk (most files)
    module = _Module(tree)
    if not module.families and not module.http and "://" not in source:
        return []  # no SDK import and no URL: nothing any rule could flag
    visitor = _Visitor(path, module)
    visitor.run(tree)
    lines = source.splitlines()
    kept: list[Finding] = []
    for finding in visitor.findings:
        line = lines[finding.line - 1] if finding.line <= len(lines) else ""
        m = _IGNORE.search(line)
        if m is not None:
            codes = m.group("codes")
            if codes is None or finding.code in {c.strip() for c in codes.split(",")}:
                continue
        kept.append(finding)
    return sorted(kept, key=lambda f: (f.line, f.col, f.code))
