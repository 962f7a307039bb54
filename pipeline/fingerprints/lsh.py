"""LSH band keys and clustering: exact groups by normalised text, then near-duplicate clusters among their keepers.

Only fixed-width keys per document are held (`norm_keys`: 16 bytes, `band_keys`: 8 per band); signatures are
fetched on demand for candidate pairs, so the release can stream them from its staged shards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipeline.config import DedupConfig
from pipeline.fingerprints.minhash import POLY, signature_matrix


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(bands, n) uint64: one key per LSH band of each (n, bands*rows) uint32 signature.

    Equal bands give equal keys; a key collision of unequal bands (p ~ 2^-64 per pair) only proposes a
    candidate pair, which the signature-agreement check then rejects. 8 bytes per band instead of 32 is
    what lets the global dedup hold every candidate's keys in memory (112 B per document).
    """
    keys = np.empty((bands, len(sig)), dtype=np.uint64)
    poly = np.uint64(POLY)
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
            if not len(named):  # no verdict names another row
                return ids
            at = np.minimum(np.searchsorted(named, of), len(named) - 1)  # a row named by no one is its own
            looked_up = named_ids.gather(at)
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
    temporaries stay a few MB however many pairs there are. In float64, so it meets `min_signature_agreement`
    exactly: float32 would round 35 of 50 up to a threshold of 0.7000000001 and link the pair."""
    out = np.empty(len(a), dtype=np.float64)
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
