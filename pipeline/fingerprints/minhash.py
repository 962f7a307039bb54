"""MinHash signatures of texts: word n-gram shingles of the normalised text, hashed and permuted compiled.

Bit-for-bit those of datasketch 2.0 (`pipeline.fingerprints.spec` says how to rebuild them there): see the
package docstring for the definition of each step.
"""

from __future__ import annotations

import hashlib
import itertools
from functools import cache

import numpy as np
import polars as pl
import xxhash

from pipeline.config import DedupConfig
from pipeline.fingerprints.normalisation import _normalised, compiled

SCHEME = "affine32"
_MASK64 = (1 << 64) - 1
POLY = 0x9E3779B97F4A7C15  # odd 64-bit multiplier (2^64 / golden ratio) combining the word hashes


def shingle_hash(shingle: bytes) -> int:
    """The 32-bit shingle hash (datasketch `hashfunc`): xxh3_64 of each space-separated word, folded as
    h = h * 0x9E3779B97F4A7C15 + word_hash (mod 2^64), then the top 32 bits.

    Word-level so a batch hashes each word once and folds n-grams from the word hashes.
    """
    h = 0
    for word in shingle.split(b" "):
        h = (h * POLY + xxhash.xxh3_64_intdigest(word)) & _MASK64
    return h >> 32


@cache
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch 2.0's affine32 parameters (a odd, b), drawn the way `MinHash._init_permutations` draws them.

    Drawn here rather than read from a `datasketch.MinHash`: importing datasketch costs each worker
    process ~3 s (it pulls in scipy). Equality with datasketch's signatures is tested.
    """
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _word_hashes(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """xxh3_64 of every word of every normalised text (compiled), and each text's word count."""
    kernel = compiled()
    hashes, n_words, long_words = kernel.word_hashes(data, offsets)
    for k, s, e in long_words:
        hashes[k] = xxhash.xxh3_64_intdigest(data[s:e].tobytes())
    return hashes, n_words


def shingle_hashes(texts: pl.Series, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`shingle_hash` of every word n-gram of every text once normalised, doc after doc, as uint32; and
    the shingle count per doc. These are what signatures are made of."""
    kernel = compiled()
    return kernel.shingle_hashes(*_word_hashes(*_normalised(texts)), n, POLY)


def add_dedup_keys(batch: pl.DataFrame, cfg: DedupConfig) -> pl.DataFrame:
    """Adds `norm_sha256` (hex SHA-256 of the normalised text) and `minhash` (List(UInt32), bands x rows)
    computed from `text`. A null text counts as empty. Row-wise Python only for SHA-256 (no Polars kernel).
    """
    kernel = compiled()
    data, offsets = _normalised(batch["text"])
    view, bounds = memoryview(data), offsets.tolist()
    digests = [hashlib.sha256(view[a:b]).hexdigest() for a, b in itertools.pairwise(bounds)]
    num_perm = cfg.bands * cfg.rows_per_band
    shingles, n_sh = kernel.shingle_hashes(*_word_hashes(data, offsets), cfg.ngram_size, POLY)
    sig = kernel.signatures(shingles, n_sh, *_permutations(num_perm, cfg.seed))
    minhash = pl.Series("minhash", sig.reshape(-1), pl.UInt32).reshape((len(sig), num_perm))
    return batch.with_columns(pl.Series("norm_sha256", digests, pl.String), minhash.cast(pl.List(pl.UInt32)))


def signature_matrix(minhash: pl.Series, cfg: DedupConfig) -> np.ndarray:
    """(n, num_perm) uint32 from a List(UInt32) column; a wrong length is a clear error, not a bad match."""
    num_perm = cfg.bands * cfg.rows_per_band
    if minhash.null_count() or (minhash.list.len() != num_perm).any():
        raise ValueError(f"every minhash must be a list of {num_perm} values (bands x rows_per_band)")
    return minhash.explode().to_numpy().astype(np.uint32, copy=False).reshape(len(minhash), num_perm)
