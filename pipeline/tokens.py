"""Token counts of document texts with the tokenizer a run's config names (a Hugging Face `tokenizer.json`).

The count is what a model trained with that tokenizer sees (no special tokens added); the file's sha256 goes into
the manifest's `software`, so a count can be reproduced. Loaded once per process and file content.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import polars as pl


class TokenizerError(ValueError):
    """The configured tokenizer cannot be used; the message says why (one line)."""


def tokenizer_sha256(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as err:
        raise TokenizerError(f"tokenizer {path}: cannot be read ({err.strerror or err})") from None


@functools.lru_cache(maxsize=2)
def _load(path: str, sha256: str):
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise TokenizerError(
            "the config names a tokenizer, but the `tokenizers` library is missing: pip install 'apertura[tokens]'"
        ) from None
    try:
        return Tokenizer.from_file(path)
    except Exception as err:  # tokenizers raises plain Exception for a file that is no tokenizer.json
        raise TokenizerError(f"tokenizer {path}: not a tokenizer.json ({str(err).splitlines()[0][:200]})") from None


def check_tokenizer(path: str) -> str:
    """Load the tokenizer once (a clear error before any input is read); return its record for the manifest."""
    sha256 = tokenizer_sha256(path)
    _load(path, sha256)
    return f"{Path(path).name} sha256:{sha256}"


def token_counts(texts: pl.Series, path: str) -> pl.Series:
    """Tokens per text (null for a null text), counted with the tokenizer at `path`."""
    tokenizer = _load(path, tokenizer_sha256(path))
    values = texts.to_list()
    present = [t for t in values if t is not None]
    counts = iter(len(e.ids) for e in tokenizer.encode_batch(present, add_special_tokens=False))
    return pl.Series("token_count", [None if t is None else next(counts) for t in values], dtype=pl.Int64)
