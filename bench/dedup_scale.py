"""Global dedup at scale and its quality: `find_duplicates` on 1,000,000 signatures, and on planted texts.

    .venv/bin/python -m bench.dedup_scale [--docs 1000000] [--quality-docs 20000] [--profile]

* `dedup_lsh_cluster_1m` (target < 60 s, peak RSS < 4 GB): `find_duplicates` (exact groups, 14 x 8 LSH
  banding, connected components) over `--docs` synthetic signatures in a fresh process. Planted:
  12% variants of an earlier root whose 112 values each equal the root's with probability J (the MinHash
  model: P[h_i(A) = h_i(B)] = J) for J in `bench.corpus.TARGET_JACCARDS`, and 5% exact copies (same
  `norm_sha256`). `peak_rss_mb` is the process's (input frame included); `input_rss_mb` the RSS once the
  input was built, so the dedup's own share is the difference. With `--profile`, cProfile of the call on
  stderr (where the time goes).
* `dedup_signature_recall_j_ge_0.8`, `dedup_signature_false_merges_j_lt_0.5`: on those signatures, the
  planted pairs (root, variant) with J >= 0.8 put in one cluster, and removed documents whose true J with
  their keeper is < 0.5 (variant-variant J = J1 * J2; unrelated documents 0).
* `dedup_text_recall_j_ge_0.8`, `dedup_text_false_merges_j_lt_0.5`: the same on text: `--quality-docs`
  pages of `bench.corpus` (article texts, five languages, planted clusters) through `add_dedup_keys` and
  `find_duplicates`; the true J is the exact word 5-gram Jaccard of the two normalised texts.
  Recall is also given per target J bucket (how sharp the LSH S-curve is).
* `release_dedup_rss_<n>` (`--release-docs`, e.g. 500000,1500000,3000000): peak RSS of the release's
  global dedup over n planted candidates staged as 8 shards, every verdict produced, in a fresh process;
  baseline: the same verdicts with every candidate's id and signature in memory (`find_duplicates`, what
  the release did before). Then `release_dedup_rss_per_doc`: the slope in bytes per candidate.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bench._measure import command_line, emit, figure, in_process

VARIANT_SHARE, EXACT_SHARE = 0.12, 0.05


def _vm_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def planted_signatures(n: int, num_perm: int, seed: int = 0) -> tuple[Any, np.ndarray, np.ndarray]:
    """(candidates frame, root of each row or -1, planted J of each row) with clusters of known Jaccard."""
    import polars as pl

    from bench.corpus import TARGET_JACCARDS

    rng = np.random.default_rng(seed)
    sig = rng.integers(0, 1 << 32, (n, num_perm), dtype=np.uint32)
    u = rng.random(n)
    rows = np.arange(n)
    root = np.full(n, -1, dtype=np.int64)
    jacc = np.zeros(n)
    is_variant = (u < VARIANT_SHARE) & (rows > 100)
    is_exact = (u >= VARIANT_SHARE) & (u < VARIANT_SHARE + EXACT_SHARE) & (rows > 100)
    copies = np.flatnonzero(is_variant | is_exact)
    # roots: an earlier row that is itself an original (not a copy), so clusters are stars around it
    candidate = (rng.random(len(copies)) * copies).astype(np.int64)
    originals = np.flatnonzero(~(is_variant | is_exact))
    root[copies] = originals[np.maximum(np.searchsorted(originals, candidate, side="right") - 1, 0)]
    variants = np.flatnonzero(is_variant)
    jacc[variants] = rng.choice(np.asarray(TARGET_JACCARDS), len(variants))
    for start in range(0, len(variants), 50_000):  # bounded temporaries
        v = variants[start : start + 50_000]
        keep = rng.random((len(v), num_perm)) < jacc[v][:, None]
        sig[v] = np.where(keep, sig[root[v]], sig[v])
    exact = np.flatnonzero(is_exact)
    sig[exact] = sig[root[exact]]
    jacc[exact] = 1.0
    sha_source = np.where(is_exact, root, rows)
    minhash = pl.Series("minhash", sig.reshape(-1), pl.UInt32).reshape((n, num_perm)).cast(pl.List(pl.UInt32))
    del sig
    frame = pl.DataFrame(
        {
            "id": pl.Series(rows).cast(pl.String),
            "order": rows.astype(np.int64),
            "norm_sha256": pl.Series(sha_source).cast(pl.String).str.zfill(64),
            "minhash": minhash,
        }
    )
    return frame, root, jacc


def _true_j_signatures(a: np.ndarray, b: np.ndarray, root: np.ndarray, jacc: np.ndarray) -> np.ndarray:
    """Planted Jaccard of row pairs (a, b): same root -> J_a * J_b (a root has J 1 with itself)."""
    ra = np.where(root[a] >= 0, root[a], a)
    rb = np.where(root[b] >= 0, root[b], b)
    ja = np.where(root[a] >= 0, jacc[a], 1.0)
    jb = np.where(root[b] >= 0, jacc[b], 1.0)
    return np.where(ra == rb, ja * jb, 0.0)


def scale(n: int, profile: bool) -> dict[str, Any]:
    """Build the planted signatures, time `find_duplicates` once, score it against the plant."""
    from pipeline.config import DedupConfig
    from pipeline.fingerprints import find_duplicates

    cfg = DedupConfig()
    t0 = time.perf_counter()
    frame, root, jacc = planted_signatures(n, cfg.bands * cfg.rows_per_band)
    built = time.perf_counter() - t0
    input_rss = _vm_rss_mb()
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        start = time.perf_counter()
        found = prof.runcall(find_duplicates, frame, cfg)
        seconds = time.perf_counter() - start
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    else:
        start = time.perf_counter()
        found = find_duplicates(frame, cfg)
        seconds = time.perf_counter() - start
    # rows of `found` are sorted by order, which is the row index; ids are the row index as text
    dup = found["duplicate_of"]
    removed = np.flatnonzero(dup.is_not_null().to_numpy())
    keeper_row = dup.gather(removed).cast(int).to_numpy().astype(np.int64)
    true_j = _true_j_signatures(removed, keeper_row, root, jacc)
    cluster = found["cluster_id"].fill_null(found["id"]).cast(int).to_numpy()
    planted = np.flatnonzero(root >= 0)
    same = cluster[planted] == cluster[root[planted]]
    by_j: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for j, s in zip(jacc[planted], same, strict=True):
        by_j[f"{j:.2f}"][0] += 1
        by_j[f"{j:.2f}"][1] += int(s)
    high = jacc[planted] >= 0.8
    return {
        "docs": n,
        "seconds": seconds,
        "build_seconds": built,
        "input_rss_mb": input_rss,
        "removed": len(removed),
        "pairs_ge_08": int(high.sum()),
        "found_ge_08": int(same[high].sum()),
        "false_merges_lt_05": int((true_j < 0.5).sum()),
        "recall_by_j": {k: round(v[1] / v[0], 4) for k, v in sorted(by_j.items())},
    }


def stage_shards(out: str, n: int, shards: int, seed: int = 0) -> dict[str, Any]:
    """Write `n` planted candidates as `shards` staged shards (candidates.parquet + report.json), as the local
    executor leaves them before the release: ids, `order`, norm_sha256, minhash and a short text."""
    import json

    import polars as pl

    frame, _, _ = planted_signatures(n, 112, seed)
    bounds = np.linspace(0, n, shards + 1).astype(int)
    for i in range(shards):
        directory = Path(out) / "shards" / f"{i:05d}"
        directory.mkdir(parents=True)
        part = frame.slice(bounds[i], bounds[i + 1] - bounds[i])
        part.with_columns(text=pl.format("document {} of the staged corpus", pl.col("id"))).write_parquet(
            directory / "candidates.parquet", row_group_size=2_048
        )
        (directory / "report.json").write_text(json.dumps({"candidates": part.height}))
    return {"docs": n}


def release_dedup(out: str, shards: int, streamed: bool) -> dict[str, Any]:
    """The release's global dedup over staged shards, every verdict produced (the part the driver holds).

    streamed=True: `pipeline.release`'s streamed keys; False: what the release did before (every shard's
    id, order, norm_sha256, minhash concatenated, then `find_duplicates`), as the in-memory baseline.
    """
    import polars as pl

    from pipeline import release
    from pipeline.config import RunConfig
    from pipeline.fingerprints import bucket_edges, find_duplicates
    from pipeline.staging import Shard

    config = RunConfig()
    plan = [Shard(i, f"shard-{i}", Path(out) / "shards" / f"{i:05d}") for i in range(shards)]
    start = time.perf_counter()
    removed = 0
    if streamed:
        dedup = release._Dedup(release._Staged(plan), config, bucket_edges)
        for i in range(shards):
            removed += sum(dups.height for _, dups in dedup.parts(i))
    else:
        columns = ["id", "order", "norm_sha256", "minhash"]
        candidates = pl.concat(pl.read_parquet(s.directory / "candidates.parquet", columns=columns) for s in plan)
        removed = find_duplicates(candidates, config.dedup)["duplicate_of"].is_not_null().sum()
    return {"seconds": time.perf_counter() - start, "removed": int(removed), "vm_rss_mb": _vm_rss_mb()}


def text_quality(n: int, seed: int) -> dict[str, Any]:
    """`bench.corpus` article texts through add_dedup_keys + find_duplicates; scored with exact Jaccard."""
    import polars as pl

    from bench.corpus import iter_documents, shingle_set, url_of
    from pipeline.config import RunConfig
    from pipeline.fingerprints import add_dedup_keys, find_duplicates, normalise

    config = RunConfig()
    docs = [d for d in iter_documents(seed, n) if d.paragraphs]
    texts = [d.text for d in docs]
    urls = [d.url for d in docs]
    frames = [
        add_dedup_keys(pl.DataFrame({"text": texts[i : i + config.batch_size]}), config.dedup)
        for i in range(0, len(texts), config.batch_size)
    ]
    keyed = pl.concat(frames).with_columns(pl.Series("id", urls), pl.Series("order", range(len(urls)), pl.Int64))
    start = time.perf_counter()
    found = find_duplicates(keyed, config.dedup)
    seconds = time.perf_counter() - start
    row_of = {u: i for i, u in enumerate(urls)}
    norm = normalise(pl.Series(texts)).to_list()
    k = config.dedup.ngram_size

    def jaccard(a: int, b: int) -> float:
        x, y = shingle_set(norm[a].split(" "), k), shingle_set(norm[b].split(" "), k)
        return len(x & y) / len(x | y) if x | y else 1.0

    cluster = dict(zip(found["id"].to_list(), found["cluster_id"].fill_null(found["id"]).to_list(), strict=True))
    buckets: dict[str, Counter] = defaultdict(Counter)
    high: Counter[str] = Counter()
    for d in docs:
        if d.kind != "variant" or d.root is None:
            continue
        r = url_of(seed, d.root)
        if r not in row_of:
            continue
        j = jaccard(row_of[d.url], row_of[r])
        same = cluster[d.url] == cluster[r]
        buckets[f"{d.target_jaccard:.2f}"].update(pairs=1, found=int(same))
        if j >= 0.8:
            high.update(pairs=1, found=int(same))
    merged = found.filter(pl.col("duplicate_of").is_not_null()).select("id", "duplicate_of").rows()
    merged_j = [jaccard(row_of[a], row_of[b]) for a, b in merged]
    return {
        "docs": len(docs),
        "seconds": seconds,
        "pairs_ge_08": high["pairs"],
        "found_ge_08": high["found"],
        "removed": len(merged),
        "false_merges_lt_05": sum(j < 0.5 for j in merged_j),
        "min_merged_jaccard": round(min(merged_j), 4) if merged_j else None,
        "recall_by_target_j": {b: round(c["found"] / c["pairs"], 3) for b, c in sorted(buckets.items())},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000, help="signatures for the scale figure")
    parser.add_argument("--quality-docs", type=int, default=20_000, help="corpus pages for the text quality figure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="cProfile find_duplicates (stderr)")
    parser.add_argument("--release-docs", default="",
                        help="candidate counts for the release dedup memory figure, e.g. 500000,3000000")
    args = parser.parse_args(argv)
    command = command_line("bench.dedup_scale", argv)
    res = in_process("bench.dedup_scale:scale", args.docs, args.profile)
    emit(figure(f"dedup_lsh_cluster_{args.docs // 1000}k", res["docs"] / res["seconds"], "docs/s",
                res["peak_rss_mb"], command, seconds=round(res["seconds"], 2), target="< 60 s, peak RSS < 4 GB",
                input_rss_mb=round(res["input_rss_mb"], 1), removed=res["removed"],
                build_seconds=round(res["build_seconds"], 1)))
    emit(figure("dedup_signature_recall_j_ge_0.8", res["found_ge_08"] / max(1, res["pairs_ge_08"]), "fraction",
                None, command, pairs=res["pairs_ge_08"], found=res["found_ge_08"], by_planted_j=res["recall_by_j"],
                target=">= 0.95"))
    emit(figure("dedup_signature_false_merges_j_lt_0.5", res["false_merges_lt_05"], "docs", None, command,
                removed=res["removed"], target="0"))
    points = []
    for n in (int(x) for x in args.release_docs.split(",") if x):
        with tempfile.TemporaryDirectory(prefix="apertura-release-dedup-") as out:
            in_process("bench.dedup_scale:stage_shards", out, n, 8, args.seed)
            ours = in_process("bench.dedup_scale:release_dedup", out, 8, True)
            base = in_process("bench.dedup_scale:release_dedup", out, 8, False)
        if ours["removed"] != base["removed"]:
            raise SystemExit(f"streamed and in-memory dedup disagree: {ours['removed']} vs {base['removed']} removed")
        points.append((n, ours["peak_rss_mb"]))
        emit(figure(f"release_dedup_rss_{n // 1000}k", ours["peak_rss_mb"], "MB", ours["peak_rss_mb"], command,
                    baseline="the same verdicts with every candidate in memory (find_duplicates)",
                    baseline_value=base["peak_rss_mb"], seconds=round(ours["seconds"], 1),
                    baseline_seconds=round(base["seconds"], 1), removed=ours["removed"], shards=8))
    if len(points) > 1:
        (n0, r0), (n1, r1) = points[0], points[-1]
        emit(figure("release_dedup_rss_per_doc", (r1 - r0) * 1e6 / (n1 - n0), "bytes/doc", None, command,
                    points=points, note="peak RSS slope between the smallest and largest --release-docs"))
    if args.quality_docs:
        q = in_process("bench.dedup_scale:text_quality", args.quality_docs, args.seed)
        emit(figure("dedup_text_recall_j_ge_0.8", q["found_ge_08"] / max(1, q["pairs_ge_08"]), "fraction",
                    q["peak_rss_mb"], command, pairs=q["pairs_ge_08"], found=q["found_ge_08"],
                    by_target_j=q["recall_by_target_j"], docs=q["docs"], target=">= 0.95"))
        emit(figure("dedup_text_false_merges_j_lt_0.5", q["false_merges_lt_05"], "docs", None, command,
                    removed=q["removed"], min_merged_jaccard=q["min_merged_jaccard"], target="0"))


if __name__ == "__main__":
    main()
