"""The signature spec recorded in every manifest, and the bridge to `datasketch` (a stored signature as a MinHash)."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.config import DedupConfig
from pipeline.fingerprints.minhash import SCHEME, shingle_hash
from pipeline.text_identity import FORMAT_UNICODE

if TYPE_CHECKING:
    from datasketch import MinHash


def signature_spec(cfg: DedupConfig) -> dict[str, Any]:
    """What a reader needs to rebuild or extend signatures with datasketch; recorded in the manifest."""
    return {
        "library": "datasketch",
        "library_version": "2.0.0",
        "class": "datasketch.MinHash",
        "scheme": SCHEME,
        "seed": cfg.seed,
        "num_perm": cfg.bands * cfg.rows_per_band,
        "bands": cfg.bands,
        "rows_per_band": cfg.rows_per_band,
        "hashvalue_dtype": "uint32",
        "hashfunc": "pipeline.steps.dedup:shingle_hash",
        "hashfunc_definition": (
            "h=0; for w in shingle.split(b' '): h=(h*0x9E3779B97F4A7C15+xxh3_64(w, seed=0)) mod 2^64; return h>>32"
        ),
        "shingles": (
            f"word {cfg.ngram_size}-grams of the normalised text joined by ' ', UTF-8; fewer than "
            f"{cfg.ngram_size} words: one shingle of all words; empty text: no shingles (all 0xFFFFFFFF)"
        ),
        "normalisation": (
            f"remove Unicode {FORMAT_UNICODE} format characters (general category Cf), then NFKC (Python "
            f"unicodedata, Unicode {unicodedata.unidata_version}), lower case (Polars), remove Unicode P*/S* "
            "characters, collapse whitespace runs to one space, strip"
        ),
        "exact_key": "sha256 hex of the UTF-8 normalised text",
    }


SIGNATURE_SPEC: dict[str, Any] = signature_spec(DedupConfig())


def as_datasketch(signature: Any, cfg: DedupConfig | None = None) -> MinHash:
    """A `datasketch.MinHash` holding a stored signature, ready for `MinHashLSH` or further updates."""
    from datasketch import MinHash

    seed = (cfg or DedupConfig()).seed
    values = np.asarray(signature, dtype=np.uint32)
    return MinHash(hashvalues=values, seed=seed, scheme=SCHEME, hashfunc=shingle_hash)
