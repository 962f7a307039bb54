"""MinHash signature and clustering throughput against datasketch, on the same synthetic docs in one run.

    .venv/bin/python -m bench.minhash --docs 5000

Prints one JSON line per figure: {name, value, unit, baseline, baseline_value, ratio, peak_rss_mb, command}.
Each measurement runs in its own spawned process (so peak RSS is its own) with POLARS_MAX_THREADS=--threads
(default 1: per-core figures); throughput is the best of --repeat runs, the usual choice on a shared machine.

* signatures: `add_dedup_keys` in batches of RunConfig.batch_size vs `datasketch.MinHash.generator`
  (datasketch's bulk path) fed the same normalised text, the same word 5-gram shingles and num_perm, with
  `xxhash.xxh32_intdigest` as hashfunc (the fast, idiomatic choice; our `shingle_hash` in Python is slower).
  The baseline does not compute the SHA-256 exact key that ours also adds. A second line compares with
  datasketch given our `shingle_hash`, i.e. producing exactly our signatures.
* clusters: `find_duplicates` on synthetic signatures (10% planted near duplicates, 5% exact) vs
  `datasketch.MinHashLSH` insert + query with a Python union-find; both must give the same clusters.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

WORDS_PER_DOC = 480  # ~3 KB of text with the vocabulary below
VOCAB = 50_000
NON_ASCII = ("café", "naïve", "“quoted”", "it’s", "ﬁne", "—", "Zürich", "½")


def generate_docs(n: int, seed: int = 0) -> list[str]:
    """Zipf-distributed words with capitals, punctuation and (in 30% of docs) non-ASCII; 10% near copies."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    lengths = rng.integers(2, 11, VOCAB)
    codes = rng.choice(letters, int(lengths.sum()))
    cuts = np.cumsum(lengths)
    vocab = np.array([codes[e - k : e].tobytes().decode() for k, e in zip(lengths, cuts, strict=True)])
    p = 1.0 / np.arange(1, VOCAB + 1) ** 1.05
    p /= p.sum()
    docs: list[str] = []
    for i in range(n):
        if i > 10 and rng.random() < 0.1:  # a near copy of an earlier doc
            words = docs[int(rng.integers(0, i))].split(" ")
            at = int(rng.integers(0, max(1, len(words) - 10)))
            words[at : at + 5] = vocab[rng.choice(VOCAB, 5, p=p)].tolist()
        else:
            words = vocab[rng.choice(VOCAB, WORDS_PER_DOC, p=p)].tolist()
            for k in range(0, len(words), 14):
                words[k] = words[k].capitalize()
            for k in range(13, len(words), 14):
                words[k] += "."
            for k in range(5, len(words), 23):
                words[k] += ","
            if rng.random() < 0.3:
                words[int(rng.integers(0, len(words)))] = str(rng.choice(NON_ASCII))
        docs.append(" ".join(words))
    return docs


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _best_time(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _ours_signatures(n: int, repeat: int) -> dict[str, float]:
    import polars as pl

    from pipeline.config import RunConfig
    from pipeline.fingerprints import add_dedup_keys

    config = RunConfig()
    cfg, size = config.dedup, config.batch_size
    docs = generate_docs(n)
    batches = [pl.DataFrame({"text": docs[i : i + size]}) for i in range(0, n, size)]
    add_dedup_keys(batches[0], cfg)  # warm-up: imports, permutation parameters

    def run() -> None:
        for batch in batches:
            add_dedup_keys(batch, cfg)

    return {"seconds": _best_time(run, repeat), "peak_rss_mb": _peak_rss_mb()}


def _datasketch_signatures(n: int, repeat: int) -> dict[str, float]:
    import xxhash

    return _datasketch(n, repeat, xxhash.xxh32_intdigest)


def _datasketch_same_output(n: int, repeat: int) -> dict[str, float]:
    from pipeline.fingerprints import shingle_hash

    return _datasketch(n, repeat, shingle_hash)


def _datasketch(n: int, repeat: int, hashfunc: Callable[[bytes], int]) -> dict[str, float]:
    import polars as pl
    from datasketch import MinHash

    from pipeline.config import RunConfig
    from pipeline.fingerprints import normalise

    config = RunConfig()
    cfg, size = config.dedup, config.batch_size
    num_perm, k = cfg.bands * cfg.rows_per_band, cfg.ngram_size
    docs = generate_docs(n)
    batches = [pl.Series("text", docs[i : i + size]) for i in range(0, n, size)]

    def shingles(text: str) -> list[bytes]:
        words = text.split(" ") if text else []
        if len(words) < k:
            return [" ".join(words).encode()] if words else []
        return [" ".join(words[i : i + k]).encode() for i in range(len(words) - k + 1)]

    def run() -> None:
        for batch in batches:
            per_doc = [shingles(t) for t in normalise(batch).to_list()]
            for m in MinHash.generator(
                per_doc, num_perm=num_perm, seed=cfg.seed, hashfunc=hashfunc, scheme="affine32"
            ):
                m.hashvalues  # noqa: B018 - the signature is the product

    return {"seconds": _best_time(run, repeat), "peak_rss_mb": _peak_rss_mb()}


def synthetic_candidates(n: int, num_perm: int, seed: int = 0) -> Any:
    """Random signatures; 10% near copies (each value redrawn with p=0.1, J~0.8), 5% exact copies."""
    import polars as pl

    rng = np.random.default_rng(seed)
    sig = rng.integers(0, 1 << 32, (n, num_perm), dtype=np.uint64).astype(np.uint32)
    sha = np.arange(n)
    kind = rng.random(n)
    source = (rng.random(n) * np.arange(n)).astype(np.int64)
    near = np.flatnonzero((kind < 0.10) & (np.arange(n) > 0))
    redraw = rng.random((len(near), num_perm)) < 0.1
    sig[near] = np.where(redraw, rng.integers(0, 1 << 32, redraw.shape, dtype=np.uint64), sig[source[near]])
    exact = np.flatnonzero((kind >= 0.10) & (kind < 0.15) & (np.arange(n) > 0))
    sig[exact] = sig[source[exact]]
    sha[exact] = sha[source[exact]]
    minhash = pl.Series("minhash", sig.reshape(-1)).reshape((n, num_perm)).cast(pl.List(pl.UInt32))
    return pl.DataFrame(
        {
            "id": [f"doc-{i:07d}" for i in range(n)],
            "order": np.arange(n, dtype=np.int64),
            "norm_sha256": [f"{s:064x}" for s in sha],
            "minhash": minhash,
        }
    )


def _ours_clusters(n: int, repeat: int) -> dict[str, Any]:
    from pipeline.config import DedupConfig
    from pipeline.fingerprints import find_duplicates

    cfg = DedupConfig()
    candidates = synthetic_candidates(n, cfg.bands * cfg.rows_per_band)
    result: list[Any] = []
    seconds = _best_time(lambda: result.append(find_duplicates(candidates, cfg)), repeat)
    clusters = result[-1]["cluster_id"].to_list()
    return {"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "clusters": clusters}


def _datasketch_clusters(n: int, repeat: int) -> dict[str, Any]:
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    from pipeline.config import DedupConfig
    from pipeline.fingerprints import SCHEME

    cfg = DedupConfig()
    num_perm, agreement = cfg.bands * cfg.rows_per_band, cfg.min_signature_agreement
    candidates = synthetic_candidates(n, num_perm)
    ids = candidates["id"].to_list()
    shas = candidates["norm_sha256"].to_list()
    sigs = np.asarray(candidates["minhash"].explode().to_numpy()).reshape(n, num_perm)
    keeper: list[int] = []

    def run() -> None:
        first_of: dict[str, int] = {}
        parent = list(range(n))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        lsh = MinHashLSH(num_perm=num_perm, params=(cfg.bands, cfg.rows_per_band))
        for i in range(n):  # input is in `order`: the first seen is the keeper
            if shas[i] in first_of:
                parent[i] = first_of[shas[i]]
                continue
            first_of[shas[i]] = i
            m = LeanMinHash(MinHash(hashvalues=sigs[i], seed=cfg.seed, scheme=SCHEME))
            for other in lsh.query(m):
                # the same rule as ours: a band collision links only if enough of the signatures agree
                if agreement is not None and (sigs[i] == sigs[int(other)]).mean() < agreement:
                    continue
                a, b = find(i), find(int(other))
                parent[max(a, b)] = min(a, b)
            lsh.insert(i, m)
        keeper[:] = [find(i) for i in range(n)]

    seconds = _best_time(run, repeat)
    size = np.bincount(keeper, minlength=n)[keeper]
    clusters = [ids[k] if s > 1 else None for k, s in zip(keeper, size, strict=True)]
    return {"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "clusters": clusters}


def _child(target: str, n: int, repeat: int, queue: Any) -> None:
    queue.put({**globals()[target](n, repeat), "docs": n})


def _measure(target: str, n: int, repeat: int) -> dict[str, Any]:
    """Run one measurement in a fresh process, so imports and peak RSS are its own."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target, n, repeat, queue))
    proc.start()
    result = queue.get()
    proc.join()
    if proc.exitcode:
        raise RuntimeError(f"{target} failed with exit code {proc.exitcode}")
    return result


def _line(name: str, n: int, ours: dict, base: dict | None, baseline: str | None, command: str) -> str:
    value = n / ours["seconds"]
    base_value = base["docs"] / base["seconds"] if base else None
    return json.dumps(
        {
            "name": name,
            "value": round(value, 1),
            "unit": "docs/s",
            "baseline": baseline,
            "baseline_value": round(base_value, 1) if base_value else None,
            "ratio": round(value / base_value, 2) if base_value else None,
            "peak_rss_mb": round(ours["peak_rss_mb"], 1),
            "baseline_peak_rss_mb": round(base["peak_rss_mb"], 1) if base else None,
            "docs": n,
            "command": command,
        }
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=5000, help="synthetic ~3 KB documents to sign")
    parser.add_argument("--signatures", type=int, default=200_000, help="synthetic signatures to cluster")
    parser.add_argument("--lsh-baseline", type=int, default=200_000,
                        help="signatures for the MinHashLSH baseline (0 skips it; must equal --signatures "
                             "to compare clusters)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is reported")
    parser.add_argument("--threads", type=int, default=1, help="POLARS_MAX_THREADS for the measured process")
    args = parser.parse_args(argv)
    os.environ["POLARS_MAX_THREADS"] = str(args.threads)  # inherited by the spawned measurement processes
    command = " ".join([".venv/bin/python", "-m", "bench.minhash", *(argv if argv is not None else sys.argv[1:])])

    import datasketch

    ours = _measure("_ours_signatures", args.docs, args.repeat)
    base = _measure("_datasketch_signatures", args.docs, args.repeat)
    baseline = f"datasketch {datasketch.__version__} MinHash.generator (affine32, xxh32 shingles)"
    print(_line("minhash_signatures", args.docs, ours, base, baseline, command), flush=True)
    same = _measure("_datasketch_same_output", args.docs, args.repeat)
    baseline = f"datasketch {datasketch.__version__} MinHash.generator (affine32, shingle_hash: identical output)"
    print(_line("minhash_signatures_same_output", args.docs, ours, same, baseline, command), flush=True)

    ours = _measure("_ours_clusters", args.signatures, args.repeat)
    base = None
    if args.lsh_baseline:
        base = _measure("_datasketch_clusters", args.lsh_baseline, 1)
        if args.lsh_baseline == args.signatures and base["clusters"] != ours["clusters"]:
            raise SystemExit("find_duplicates and the MinHashLSH baseline disagree on the clusters")
    baseline = f"datasketch {datasketch.__version__} MinHashLSH insert+query, Python union-find (1 run)"
    print(_line("find_duplicates", args.signatures, ours, base, baseline if base else None, command), flush=True)


if __name__ == "__main__":
    main()
