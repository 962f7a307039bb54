"""Fingerprints of texts: the normalised text, its SHA-256 and MinHash signature, LSH band keys and clusters.

One definition, used by the dedup stage (per batch in the executors, globally in `pipeline.release`), the
rights-holder registry's text entries (`pipeline.optout.registry`), the ledger, and the membership index
(`pipeline.index`). It imports nothing of steps, executors, sources or the CLI. Defaults follow FineWeb
(Penedo et al. 2024): word 5-grams, 14 bands x 8 rows (threshold ~0.8).

* `normalisation.py`: text -> `normalise` (format characters removed, NFKC, lower case, Unicode
  punctuation/symbols removed, whitespace collapsed: `pipeline.text_identity` defines it), compiled;
* `minhash.py`: shingles are word n-grams of the normalised text joined by one space, as UTF-8 bytes (a
  document with fewer than n words is one shingle of all its words, an empty one has none: signature all
  0xFFFFFFFF); `shingle_hash` (xxh3_64 per word, combined as a polynomial mod 2^64, top 32 bits);
  `add_dedup_keys` adds `norm_sha256` and `minhash` to a batch;
* `lsh.py`: `band_keys`, `bucket_edges`, `norm_keys` and `cluster` (exact groups, then LSH near-duplicate
  clusters by union-find), `find_duplicates` over a frame in memory;
* `spec.py`: `signature_spec` (recorded in every manifest) and `as_datasketch`;
* `kernels.py`: the numba kernels behind the above, imported on first use.

Signatures are computed compiled but are bit-for-bit those of datasketch 2.0, so `datasketch.MinHashLSH` can
serve query-time lookups over a release: `datasketch.MinHash(num_perm=bands*rows_per_band, seed=cfg.seed,
hashfunc=shingle_hash, scheme="affine32")` updated with the shingles has `hashvalues` equal to our `minhash`
column. A stored signature becomes a datasketch MinHash without re-hashing the text::

    from datasketch import MinHash, MinHashLSH
    from pipeline.fingerprints import SIGNATURE_SPEC, shingle_hash
    m = MinHash(hashvalues=row["minhash"], seed=SIGNATURE_SPEC["seed"],
                scheme=SIGNATURE_SPEC["scheme"], hashfunc=shingle_hash)
    lsh = MinHashLSH(num_perm=SIGNATURE_SPEC["num_perm"],
                     params=(SIGNATURE_SPEC["bands"], SIGNATURE_SPEC["rows_per_band"]))
    lsh.insert(row["id"], m)

(`as_datasketch` does the first step.) Manifests name the hash function `pipeline.steps.dedup:shingle_hash`
(its home when release format 3 was defined); that name stays importable and is this package's function. The
scheme is datasketch 2.0's "affine32" (fmix32 pre-mix, then a*h+b mod 2^32), not "legacy" ((a*h+b) mod
(2^61-1)): datasketch documents legacy as biased on large sets, and the 32-bit wrap-around arithmetic
vectorises (SIMD lanes) where the 64-bit modulo does not.
"""

from pipeline.fingerprints.lsh import (
    Clusters,
    EdgeFinder,
    band_keys,
    bucket_edges,
    cluster,
    find_duplicates,
    norm_keys,
)
from pipeline.fingerprints.minhash import SCHEME, add_dedup_keys, shingle_hash, shingle_hashes, signature_matrix
from pipeline.fingerprints.normalisation import normalise, utf8_buffers
from pipeline.fingerprints.spec import SIGNATURE_SPEC, as_datasketch, signature_spec

__all__ = [
    "SCHEME",
    "SIGNATURE_SPEC",
    "Clusters",
    "EdgeFinder",
    "add_dedup_keys",
    "as_datasketch",
    "band_keys",
    "bucket_edges",
    "cluster",
    "find_duplicates",
    "norm_keys",
    "normalise",
    "shingle_hash",
    "shingle_hashes",
    "signature_matrix",
    "signature_spec",
    "utf8_buffers",
]
