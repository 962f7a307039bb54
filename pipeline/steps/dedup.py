"""Stage `dedup`: exact (normalised-text SHA-256) then MinHash-LSH near-duplicate clusters.

Dedup is global: `add_dedup_keys` runs per batch and adds the keys; `cluster` runs once over every
candidate of a release (streamed from the staged shards by `pipeline.release`; `find_duplicates` is the
same over a frame in memory) and names, per document, the keeper of its cluster. Defaults follow
FineWeb (Penedo et al. 2024): word 5-grams, 14 bands x 8 rows (threshold ~0.8).

Signatures are computed compiled (`minhash_kernel`, numba) but are bit-for-bit those of datasketch 2.0, so
`datasketch.MinHashLSH` can serve query-time lookups over a release:

* text -> `normalise` (format characters removed, NFKC, lower case, Unicode punctuation/symbols removed,
  whitespace collapsed: `pipeline.text_identity` defines it);
* shingles: word n-grams of the normalised text joined by one space, as UTF-8 bytes (a document with
  fewer than n words is one shingle of all its words, an empty one has none: signature all 0xFFFFFFFF);
* shingle hash: `shingle_hash` below (xxh3_64 per word, combined as a polynomial mod 2^64, top 32 bits);
* `datasketch.MinHash(num_perm=bands*rows_per_band, seed=cfg.seed, hashfunc=shingle_hash,
  scheme="affine32")` updated with those shingles has `hashvalues` equal to our `minhash` column.

A stored signature becomes a datasketch MinHash without re-hashing the text::

    from datasketch import MinHash, MinHashLSH
    from pipeline.steps.dedup import SIGNATURE_SPEC, shingle_hash
    m = MinHash(hashvalues=row["minhash"], seed=SIGNATURE_SPEC["seed"],
                scheme=SIGNATURE_SPEC["scheme"], hashfunc=shingle_hash)
    lsh = MinHashLSH(num_perm=SIGNATURE_SPEC["num_perm"],
                     params=(SIGNATURE_SPEC["bands"], SIGNATURE_SPEC["rows_per_band"]))
    lsh.insert(row["id"], m)

(`as_datasketch` does the first step.) `SIGNATURE_SPEC` / `signature_spec(cfg)` hold the parameters
for the manifest. The scheme is datasketch 2.0's "affine32" (fmix32 pre-mix, then a*h+b mod 2^32),
not "legacy" ((a*h+b) mod (2^61-1)): datasketch documents legacy as biased on large sets, and the
32-bit wrap-around arithmetic vectorises (SIMD lanes) where the 64-bit modulo does not.
"""

from __future__ import annotations

import hashlib
import itertools
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow as pa
import xxhash

from pipeline.config import DedupConfig
from pipeline.steps.base import utf8_buffers
from pipeline.text_identity import FORMAT_RANGES, FORMAT_UNICODE, PUNCT, after_nfkc, nfkc, strip_format

if TYPE_CHECKING:
    from datasketch import MinHash

SCHEME = "affine32"
_MASK64 = (1 << 64) - 1
_POLY = 0x9E3779B97F4A7C15  # odd 64-bit multiplier (2^64 / golden ratio) combining the word hashes


def shingle_hash(shingle: bytes) -> int:
    """The 32-bit shingle hash (datasketch `hashfunc`): xxh3_64 of each space-separated word, folded as
    h = h * 0x9E3779B97F4A7C15 + word_hash (mod 2^64), then the top 32 bits.

    Word-level so a batch hashes each word once and folds n-grams from the word hashes.
    """
    h = 0
    for word in shingle.split(b" "):
        h = (h * _POLY + xxhash.xxh3_64_intdigest(word)) & _MASK64
    return h >> 32


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


@cache
def _kernel() -> ModuleType:
    """The compiled kernels (`minhash_kernel`), imported on first use: numba costs a process ~0.3 s and
    ~150 MB, which one that only clusters or reads a release (the driver, the app) need not pay."""
    from pipeline.steps import minhash_kernel

    return minhash_kernel


def _normalised(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """`normalise` as UTF-8 bytes and offsets (a null text is empty), what the keys are computed from.

    All-ASCII texts (NFKC-invariant, no format characters) are normalised compiled in one branch-free pass;
    the rest by `_normalised_unicode`.
    """
    kernel = _kernel()
    texts = texts.cast(pl.String)
    out, offsets, non_ascii = kernel.normalise_ascii(*utf8_buffers(texts))
    if non_ascii.any():
        rows = np.flatnonzero(non_ascii)
        out, offsets = kernel.splice(out, offsets, rows, *_normalised_unicode(texts.gather(rows)))
    return out, offsets


def _normalised_unicode(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """`_normalised` of texts with non-ASCII characters: NFKC from Python's `unicodedata` (Unicode's stability
    policy keeps it fixed for assigned characters), then the compiled pass a code point at a time with Polars'
    own answers for each code point (`_codepoint_table`).

    A text the table flags is done again from the start: format characters must go before NFKC (they block
    composition), so a text holding one has them removed, NFKC and the compiled pass again; what is still
    flagged (a lower case that depends on context) takes Polars' path. Web text rarely has either, so the
    common text pays nothing for them.
    """
    kernel = _kernel()
    data, offsets, flagged = kernel.normalise_utf8(*utf8_buffers(nfkc(texts)), _codepoint_table())
    if flagged.any():
        rows = np.flatnonzero(flagged)
        again = nfkc(strip_format(texts.gather(rows)))
        sub, sub_offsets, contextual = kernel.normalise_utf8(*utf8_buffers(again), _codepoint_table())
        if contextual.any():
            slow = np.flatnonzero(contextual)
            sub, sub_offsets = kernel.splice(sub, sub_offsets, slow, *utf8_buffers(after_nfkc(again.gather(slow))))
        data, offsets = kernel.splice(data, offsets, rows, sub, sub_offsets)
    return data, offsets


@cache
def _codepoint_table(size: int = 0x30000) -> np.ndarray:
    """What `after_nfkc` does to each code point below `size` on its own (BMP, SMP, SIP; ~0.16 s, once):
    its lower case, or kernel.DROPPED / WHITESPACE / CONTEXTUAL. Per code point is exact for Polars'
    per-character lower case, character classes and whitespace runs; the one context-dependent lower
    case (Greek final sigma) and multi-character ones are CONTEXTUAL, so their texts take Polars' path.
    Format characters are CONTEXTUAL too: they are removed before NFKC, so their texts are redone.
    """
    kernel = _kernel()
    points = np.setdiff1d(np.arange(size), np.arange(0xD800, 0xE000))  # surrogates are not text
    lower = pl.Series([chr(p) for p in points], dtype=pl.String).str.to_lowercase()
    kept = lower.str.replace_all(PUNCT, "")
    table = np.full(size, kernel.CONTEXTUAL, dtype=np.int32)
    single = (kept.str.len_chars() == 1).to_numpy()
    codes = np.array([ord(c) for c in kept.filter(single).to_list()], dtype=np.int32)
    table[points[single]] = codes
    table[points[(kept == "").to_numpy()]] = kernel.DROPPED
    table[points[kept.str.contains(r"^\s$").to_numpy()]] = kernel.WHITESPACE
    table[ord("Σ")] = kernel.CONTEXTUAL  # lower case ς at a word's end, σ elsewhere
    for a, b in FORMAT_RANGES:
        table[a : min(b + 1, size)] = kernel.CONTEXTUAL
    return table


def normalise(texts: pl.Series) -> pl.Series:
    """Format characters removed, NFKC, lower case, punctuation/symbols removed, whitespace collapsed: the text
    both keys are built on (`pipeline.text_identity.normalise_defined`, compiled). Nulls stay null."""
    data, offsets = _normalised(texts)
    norm = pl.Series(
        texts.name, pa.LargeStringArray.from_buffers(len(texts), pa.py_buffer(offsets), pa.py_buffer(data))
    )
    return norm.scatter(texts.is_null().arg_true(), None) if texts.null_count() else norm


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
    kernel = _kernel()
    hashes, n_words, long_words = kernel.word_hashes(data, offsets)
    for k, s, e in long_words:
        hashes[k] = xxhash.xxh3_64_intdigest(data[s:e].tobytes())
    return hashes, n_words


def shingle_hashes(texts: pl.Series, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`shingle_hash` of every word n-gram of every text once normalised, doc after doc, as uint32; and
    the shingle count per doc. These are what signatures are made of."""
    kernel = _kernel()
    return kernel.shingle_hashes(*_word_hashes(*_normalised(texts)), n, _POLY)


def add_dedup_keys(batch: pl.DataFrame, cfg: DedupConfig) -> pl.DataFrame:
    """Adds `norm_sha256` (hex SHA-256 of the normalised text) and `minhash` (List(UInt32), bands x rows)
    computed from `text`. A null text counts as empty. Row-wise Python only for SHA-256 (no Polars kernel).
    """
    kernel = _kernel()
    data, offsets = _normalised(batch["text"])
    view, bounds = memoryview(data), offsets.tolist()
    digests = [hashlib.sha256(view[a:b]).hexdigest() for a, b in itertools.pairwise(bounds)]
    num_perm = cfg.bands * cfg.rows_per_band
    shingles, n_sh = kernel.shingle_hashes(*_word_hashes(data, offsets), cfg.ngram_size, _POLY)
    sig = kernel.signatures(shingles, n_sh, *_permutations(num_perm, cfg.seed))
    minhash = pl.Series("minhash", sig.reshape(-1), pl.UInt32).reshape((len(sig), num_perm))
    return batch.with_columns(pl.Series("norm_sha256", digests, pl.String), minhash.cast(pl.List(pl.UInt32)))


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(bands, n) uint64: one key per LSH band of each (n, bands*rows) uint32 signature.

    Equal bands give equal keys; a key collision of unequal bands (p ~ 2^-64 per pair) only proposes a
    candidate pair, which the signature-agreement check then rejects. 8 bytes per band instead of 32 is
    what lets the global dedup hold every candidate's keys in memory (112 B per document).
    """
    keys = np.empty((bands, len(sig)), dtype=np.uint64)
    poly = np.uint64(_POLY)
    for b in range(bands):
        key = np.zeros(len(sig), dtype=np.uint64)
        for j in range(b * rows, (b + 1) * rows):
            key = key * poly + sig[:, j].astype(np.uint64) + np.uint64(1)
            key ^= key >> np.uint64(29)
        keys[b] = key
    return keys


def _group_first(key: np.ndarray) -> np.ndarray:
    """For each row, the lowest row with the same key (a stable sort keeps row order inside a key)."""
    order = np.argsort(key, kind="stable")
    skey = key[order]
    new_group = np.ones(len(key), dtype=bool)
    new_group[1:] = skey[1:] != skey[:-1]
    first = np.empty(len(key), dtype=np.int64)
    first[order] = order[np.flatnonzero(new_group)][np.cumsum(new_group) - 1]
    return first


def bucket_edges(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges (u, v), u > v, linking each row to the lowest row of every band bucket it shares.

    `keys` is `band_keys`' (bands, n) array; pairs are returned once, sorted. An executor may replace this
    with its own shuffle/group-by (the Ray executor does) as long as the edges are the same.
    """
    n = keys.shape[1]
    us, vs = [], []
    for band in keys:
        root = _group_first(band)
        linked = np.flatnonzero(root != np.arange(n))
        us.append(linked)
        vs.append(root[linked])
    u, v = np.concatenate(us), np.concatenate(vs)
    if len(u):
        pairs = np.unique(u * n + v)
        u, v = pairs // n, pairs % n
    return u, v


def _components(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Connected components by min-label hooking plus pointer jumping: label = lowest node index.

    Invariant: labels[x] <= x and lies in x's component, so at the fixed point (every edge has equal
    labels, labels[labels] == labels) each component is labelled by its minimum.
    """
    labels = np.arange(n)
    while len(u):
        lu, lv = labels[u], labels[v]
        differ = lu != lv
        if not differ.any():
            break
        np.minimum.at(labels, np.maximum(lu, lv)[differ], np.minimum(lu, lv)[differ])
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
    return labels


_NO_TEXT_KEY = np.iinfo(np.uint64).max  # norm key of a row without a norm_sha256: never grouped


def norm_keys(norm_sha256: pl.Series) -> np.ndarray:
    """(n, 2) uint64: two independently seeded 64-bit hashes of each `norm_sha256` (null: all ones).

    128 bits keep exact grouping exact in practice (a collision among 10^9 texts has p ~ 10^-21) at 16
    bytes per document instead of a 64-character string. The keys only need to agree within one run.
    """
    values = norm_sha256.cast(pl.String)
    keys = np.column_stack([values.hash(seed=seed).to_numpy() for seed in (0x5EED1, 0x5EED2)])
    keys[values.is_null().to_numpy()] = _NO_TEXT_KEY
    return keys.astype(np.uint64, copy=False).reshape(len(values), 2)


@dataclass
class Clusters:
    """Dedup verdicts over rows numbered in priority order (row 0 is kept before row 1, and so on).

    `final[r]`: the keeper of r's cluster (r itself when r is kept); `exact[r]`: the lowest row with r's
    normalised text; `jaccard[r]`: estimated Jaccard with `final[r]` for near-duplicates (else NaN);
    `size[r]`: the cluster's size.
    """

    final: np.ndarray
    exact: np.ndarray
    jaccard: np.ndarray
    size: np.ndarray

    def named_rows(self) -> np.ndarray:
        """Rows whose id a verdict mentions (keepers of others, exact originals): the ids to look up."""
        rows = np.arange(len(self.final))
        return np.union1d(self.final[self.final != rows], self.exact[self.exact != rows])

    def verdicts(self, ids: pl.Series, rows: np.ndarray, names: tuple[np.ndarray, pl.Series]) -> pl.DataFrame:
        """One row per `ids` (at priority `rows`): id, duplicate_of, reason, detail, cluster_id, cluster_size.

        `names` is (sorted `named_rows()`, their ids).
        """
        named, named_ids = names
        final, exact = self.final[rows], self.exact[rows]

        def name(of: np.ndarray) -> pl.Series:
            at = np.minimum(np.searchsorted(named, of), max(len(named) - 1, 0))
            looked_up = named_ids.gather(at) if len(named) else pl.Series([None] * len(of), dtype=pl.String)
            return pl.select(pl.when(pl.Series(of == rows)).then(ids).otherwise(looked_up)).to_series()

        is_exact = exact != rows
        j100 = np.rint(np.nan_to_num(self.jaccard[rows]) * 100).astype(np.int64)
        out = pl.DataFrame(
            {
                "id": ids,
                "keeper": name(final),
                "exact_of": name(exact),
                "is_exact": is_exact,
                "is_near": ~is_exact & (final != rows),
                "j100": j100,
                "cluster_size": self.size[rows].astype(np.int32),
            }
        )
        jaccard_text = pl.format("{}.{}", pl.col("j100") // 100, (pl.col("j100") % 100).cast(pl.String).str.zfill(2))
        exact_detail = pl.concat_str(pl.lit("same normalised text as "), pl.col("exact_of")) + pl.when(
            pl.col("exact_of") != pl.col("keeper")
        ).then(pl.concat_str(pl.lit(", a near-duplicate of "), pl.col("keeper"))).otherwise(pl.lit(""))
        return out.select(
            "id",
            pl.when(pl.col("is_exact") | pl.col("is_near")).then(pl.col("keeper")).alias("duplicate_of"),
            pl.when(pl.col("is_exact"))
            .then(pl.lit("dedup_exact"))
            .when(pl.col("is_near"))
            .then(pl.lit("dedup_near"))
            .alias("reason"),
            pl.when(pl.col("is_exact"))
            .then(exact_detail)
            .when(pl.col("is_near"))
            .then(pl.format("estimated jaccard {} with {}", jaccard_text, pl.col("keeper")))
            .alias("detail"),
            pl.when(pl.col("cluster_size") > 1).then(pl.col("keeper")).alias("cluster_id"),
            "cluster_size",
        )


def _agreement(sig: np.ndarray, a: np.ndarray, b: np.ndarray, chunk: int = 16_384) -> np.ndarray:
    """Share of equal values between signature rows a[i] and b[i] (the Jaccard estimate), in chunks so the
    temporaries stay a few MB however many pairs there are."""
    out = np.empty(len(a), dtype=np.float32)
    for c in range(0, len(a), chunk):
        out[c : c + chunk] = (sig[a[c : c + chunk]] == sig[b[c : c + chunk]]).mean(axis=1)
    return out


EdgeFinder = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def cluster(
    norm: np.ndarray,
    keys: np.ndarray,
    cfg: DedupConfig,
    signatures: Callable[[np.ndarray], np.ndarray],
    *,
    edges: EdgeFinder = bucket_edges,
) -> Clusters:
    """Exact groups by `norm` ((n, 2) `norm_keys`), then LSH near-duplicates among the exact keepers.

    Only fixed-width keys are held (16 + 8 x bands bytes per row); `signatures(rows)` returns the
    (len(rows), num_perm) signatures of sorted rows on demand, for the candidate pairs only, so a caller
    can stream them from disk.
    """
    n = len(norm)
    rows = np.arange(n)
    exact = rows.copy()
    if cfg.exact and n:
        order = np.lexsort((norm[:, 1], norm[:, 0]))  # stable: the lowest row leads its group
        skey = norm[order]
        new = np.ones(n, dtype=bool)
        new[1:] = (skey[1:] != skey[:-1]).any(axis=1)
        new |= (skey == _NO_TEXT_KEY).all(axis=1)  # no text hash: every such row is its own group
        exact[order] = order[np.flatnonzero(new)][np.cumsum(new) - 1]
    final = exact.copy()
    jaccard = np.full(n, np.nan, dtype=np.float32)
    if cfg.near and n > 1:
        # Banding runs over every row, without copying the keys of the exact keepers out: an exact
        # duplicate has its keeper's signature, so it only adds edges inside its keeper's buckets and the
        # components (labelled by their lowest row) are those of the keepers.
        u, v = edges(keys)
        ends = np.unique(np.concatenate([u, v]))
        sig = signatures(ends)
        at = lambda x: np.searchsorted(ends, x)  # noqa: E731 - a row's place in `sig`
        if cfg.min_signature_agreement is not None and len(u):
            # a band collision is a candidate, not a verdict: at J = 0.5 one pair in 19 collides somewhere
            agree = _agreement(sig, at(u), at(v)) >= cfg.min_signature_agreement
            u, v = u[agree], v[agree]
        labels = _components(n, u, v)
        near = np.flatnonzero((labels != rows) & (exact == rows))
        final[near] = labels[near]
        jaccard[near] = _agreement(sig, at(near), at(labels[near]))
        final = final[exact]  # an exact duplicate follows its exact keeper into its cluster
    size = np.bincount(final, minlength=n)[final]
    return Clusters(final=final, exact=exact, jaccard=jaccard, size=size)


def find_duplicates(candidates: pl.LazyFrame | pl.DataFrame, cfg: DedupConfig) -> pl.DataFrame:
    """Clusters over all candidates held in memory: exact groups by `norm_sha256`, then LSH near-duplicates
    among the exact keepers; keeper = lowest `order` (then id). One row per input id, sorted by `order`:
    id, duplicate_of, reason ('dedup_exact' | 'dedup_near' | null), detail, cluster_id, cluster_size.
    (A release streams the same `cluster` from its staged shards: `pipeline.release`.)
    """
    df = candidates.lazy().select("id", "order", "norm_sha256", "minhash").sort("order", "id").collect()
    sig = signature_matrix(df["minhash"], cfg) if cfg.near else np.zeros((df.height, 0), np.uint32)
    keys = band_keys(sig, cfg.bands, cfg.rows_per_band) if cfg.near else np.zeros((0, df.height), np.uint64)
    clusters = cluster(norm_keys(df["norm_sha256"]), keys, cfg, lambda rows: sig[rows])
    rows = np.arange(df.height)
    return clusters.verdicts(df["id"], rows, (rows, df["id"]))


def signature_matrix(minhash: pl.Series, cfg: DedupConfig) -> np.ndarray:
    """(n, num_perm) uint32 from a List(UInt32) column; a wrong length is a clear error, not a bad match."""
    num_perm = cfg.bands * cfg.rows_per_band
    if minhash.null_count() or (minhash.list.len() != num_perm).any():
        raise ValueError(f"every minhash must be a list of {num_perm} values (bands x rows_per_band)")
    return minhash.explode().to_numpy().astype(np.uint32, copy=False).reshape(len(minhash), num_perm)
