"""The membership index on a synthetic release of a million documents: build, query latency, sketch accuracy.

    .venv/bin/python -m bench.index_scale [--docs 1000000] [--queries 300] [--absent 10000] [--out DIR] [--keep]
                                          [--build-only]

1. Writes a synthetic format-2 release into a temporary directory (or `--out`), never into the repository:
   `--docs` documents of about 3 KB (`--words` words drawn from a Zipf law over 30,000 pseudo-words, so common
   phrases exist), generated in vectorised chunks and written with `pipeline.tables.PartWriter` (the
   release's schemas); 1% ledger rows (half exact duplicates with text, half opt-outs without); a minimal
   manifest.json (files with sha256, the dedup config). MinHash signatures are real (`add_dedup_keys`) for
   the first `--real-signatures` documents, the ones near-duplicate queries are made from, and random for
   the rest (computing them is the pipeline's cost, not the index's; random ones never share a band).
2. `build_index` in a fresh spawned process: seconds, bytes per document, peak RSS (ru_maxrss), and the
   sampled peaks of its anonymous and file-backed (memory-mapped) parts. `--build-only` stops here: run it at
   a few sizes to see how the build's memory grows with the number of documents.
3. In another fresh process, after one warm-up query per kind: latency of `--queries` queries of each kind:
   exact (a whole document), near (a real-signature document with one word in 60 replaced: shingle
   Jaccard ~0.85), partial (60 words of a document), absent (100 words never in the corpus), absent_long (10,000
   such words), passage_in_long (12 words of a document among 10,000 absent ones), url, domain, search (2-3 words,
   half with a language filter); p50/p99 and the share answered as expected.
4. Sketch false-positive rate per n-gram, measured on `--absent` paragraphs of 60 words from a vocabulary
   disjoint from the corpus (so every positive is a false one), against the configured rate.

One JSON line per figure on stdout ({name, value, unit, peak_rss_mb, command, ...}), a table on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._measure import command_line, emit, figure, in_process, machine

CHUNK = 20_000
VOCAB = 30_000
FILE_ROWS = 250_000
LANGS = ("en", "de", "fr", "it", "ru")
SYLLABLES = "kalomisuteranipovedafugehijokulemanoperisativuwazeboce"  # 2-letter syllables


def _vocab(size: int, prefix: str, seed: int) -> list[str]:
    import numpy as np

    rng = np.random.default_rng(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < size:
        n = int(rng.integers(2, 5))
        w = prefix + "".join(SYLLABLES[2 * i : 2 * i + 2] for i in rng.integers(0, len(SYLLABLES) // 2, n))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def _texts(rng: Any, vocab: Any, probs: Any, n_docs: int, mean_words: int) -> tuple[Any, Any]:
    """n_docs texts of Zipf-drawn words joined by spaces (Arrow, vectorised) and their word counts."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    counts = rng.integers(mean_words // 2, mean_words * 3 // 2 + 1, n_docs)
    idx = np.searchsorted(probs, rng.random(int(counts.sum())))
    tokens = pa.DictionaryArray.from_arrays(pa.array(idx.astype(np.int32)), vocab).cast(pa.string())
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), tokens)
    return pc.binary_join(lists, " "), counts


def generate(out: str, docs: int, words: int, real_signatures: int, seed: int) -> dict[str, Any]:
    """Write the synthetic release; return where things are and a sample of documents for the queries."""
    import numpy as np
    import polars as pl
    import pyarrow as pa

    from pipeline.config import DedupConfig
    from pipeline.fingerprints import add_dedup_keys, normalise
    from pipeline.tables import PartWriter, file_sha256

    started = time.perf_counter()
    release = Path(out) / "release"
    release.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    vocab = pa.array(_vocab(VOCAB, "", seed))
    weights = 1.0 / np.arange(1, VOCAB + 1) ** 1.05
    probs = np.cumsum(weights / weights.sum())
    writers = {t: PartWriter(release, t, FILE_ROWS) for t in ("documents", "signatures", "ledger", "optout_evidence")}
    dedup = DedupConfig()
    num_perm = dedup.bands * dedup.rows_per_band
    samples: list[dict[str, Any]] = []
    text_bytes = 0
    ledger_parts = []
    for start in range(0, docs, CHUNK):
        n = min(CHUNK, docs - start)
        texts, counts = _texts(rng, vocab, probs, n, words)
        ids = [f"{start + i:016x}-{start + i}" for i in range(n)]
        dom = rng.integers(0, max(1, docs // 20), n)
        text_series = pl.Series("text", texts)
        norm = normalise(text_series)
        frame = pl.DataFrame(
            {
                "text": text_series,
                "id": ids,
                "domain": [f"site{d}.bench.test" for d in dom],
                "language": np.array(LANGS)[rng.integers(0, len(LANGS), n)],
                "text_sha256": [hashlib.sha256(t.encode()).hexdigest() for t in text_series.to_list()],
                "norm_sha256": [hashlib.sha256(t.encode()).hexdigest() for t in norm.to_list()],
                "word_count": counts.astype(np.int32),
            }
        ).with_columns(
            url=pl.format("https://{}/page/{}", pl.col("domain"), pl.col("id")),
            title=pl.format("Page {}", pl.col("id")),
            dump=pl.lit("bench"), file_path=pl.lit("/bench/synthetic.warc.gz"), source_sha256=pl.lit("0" * 64),
            source_format=pl.lit("warc"), warc_record_offset=pl.int_range(start, start + n, dtype=pl.Int64),
            language_score=pl.lit(0.9), pii_email=pl.lit(0), pii_ip=pl.lit(0), pii_iban=pl.lit(0),
            dedup_cluster_size=pl.lit(1), pipeline_version=pl.lit("0.1.0"), config_hash=pl.lit("b" * 64),
        )  # fmt: skip
        text_bytes += int(frame["text"].str.len_bytes().sum())
        real = max(0, min(n, real_signatures - start))
        sig = rng.integers(0, 2**32 - 1, (n, num_perm), dtype=np.uint32)
        if real:
            keyed = add_dedup_keys(frame.head(real).select("text"), dedup)
            sig[:real] = np.asarray(keyed["minhash"].to_list(), dtype=np.uint32)
        writers["documents"].write(frame)
        writers["signatures"].write(
            pl.DataFrame({"id": ids, "minhash": pl.Series(sig.reshape(-1)).reshape((n, num_perm))}).with_columns(
                pl.col("minhash").cast(pl.List(pl.UInt32))
            )
        )
        pick = rng.choice(n, size=min(n, 40), replace=False)
        samples += [
            {"id": r["id"], "url": r["url"], "domain": r["domain"], "language": r["language"], "text": r["text"],
             "real_signature": int(i) < real}
            for i, r in zip(pick, frame[pick.tolist()].iter_rows(named=True), strict=True)
        ]  # fmt: skip
        k = max(1, n // 100)
        copies = frame.head(k // 2)
        ledger_parts.append(
            pl.concat(
                [
                    copies.with_columns(
                        duplicate_of=pl.col("id"), id=pl.col("id") + "-dup", stage=pl.lit("dedup"),
                        reason=pl.lit("dedup_exact"), detail=pl.format("same normalised text as {}", pl.col("id")),
                        url=pl.col("url") + "?mirror",
                    ),
                    frame.slice(k // 2, k - k // 2).with_columns(
                        id=pl.col("id") + "-optout", stage=pl.lit("optout"), reason=pl.lit("optout_robots"),
                        detail=pl.lit("GPTBot: Disallow: / (line 2)"), text=pl.lit(None, pl.String),
                        text_sha256=pl.lit(None, pl.String), norm_sha256=pl.lit(None, pl.String),
                        url=pl.col("url") + "?optout", duplicate_of=pl.lit(None, pl.String),
                    ),
                ],
                how="diagonal_relaxed",
            ).with_columns(record_type=pl.lit("response"))
        )
        del frame, texts, sig
    for part in ledger_parts:
        writers["ledger"].write(part)
    files = []
    for writer in writers.values():
        for f in writer.close():
            path = release / f["path"]
            files.append({**f, "schema_version": 1, "bytes": path.stat().st_size, "sha256": file_sha256(path)})
    manifest = {
        "format": "apertura-release",
        "format_version": 2,
        "release_id": "bench-index",
        "config": {"dedup": dedup.model_dump(mode="json")},
        "counts": {"kept": docs, "removed": sum(p.height for p in ledger_parts)},
        "files": sorted(files, key=lambda f: f["path"]),
    }
    (release / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (Path(out) / "samples.json").write_text(json.dumps(samples))
    return {
        "seconds": time.perf_counter() - started,
        "release": str(release),
        "text_bytes": text_bytes,
        "release_bytes": sum(f["bytes"] for f in files),
    }


def _status_mb() -> dict[str, float]:
    """VmRSS and its anonymous / file-backed parts (memory-mapped index files count in RSS as RssFile)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) / 1024
    return out


def build(release: str) -> dict[str, Any]:
    """build_index with RSS sampled every 0.1 s: the peak of its anonymous and file-backed parts, and the
    peak during each build stage (a stage's seconds are accumulated over batches, so stages interleave)."""
    import threading

    from pipeline.index import build_index

    peaks: dict[str, float] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            with contextlib.suppress(OSError, ValueError):
                for key, value in _status_mb().items():
                    peaks[key] = max(peaks.get(key, 0.0), value)
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        info = build_index(release)
    finally:
        done.set()
        sampler.join()
    return {"seconds": time.perf_counter() - started, "info": info, "rss_parts": peaks}


def _percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def queries(release: str, samples_path: str, n_queries: int, n_absent: int, seed: int) -> dict[str, Any]:
    """Latency per query kind (after a warm-up query of each), and the sketch's measured false-positive rate."""
    import numpy as np
    import polars as pl

    from pipeline.index import open_index
    from pipeline.index.tokens import gram_hashes, word_hashes, words

    rng = np.random.default_rng(seed + 1)
    samples = json.loads(Path(samples_path).read_text())
    real = [s for s in samples if s["real_signature"]]
    absent_vocab = _vocab(5_000, "zq", seed + 2)  # 'zq' never starts a corpus word: every hit is a false one
    started = time.perf_counter()
    index = open_index(release)
    opened = time.perf_counter() - started

    def absent_text(n_words: int) -> str:
        return " ".join(absent_vocab[i] for i in rng.integers(0, len(absent_vocab), n_words))

    def near(text: str) -> str:
        w = text.split()
        for i in rng.choice(len(w), size=max(1, len(w) // 60), replace=False):
            w[i] = "zqchanged"
        return " ".join(w)

    def partial(text: str) -> str:
        w = text.split()
        a = int(rng.integers(0, max(1, len(w) - 60)))
        return " ".join(w[a : a + 60])

    def in_long(text: str) -> str:
        """12 words of a document (enough to hold a stored n-gram) at a random place in 10,000 absent words."""
        w, filler = text.split(), absent_text(10_000).split()
        a, at = int(rng.integers(0, max(1, len(w) - 12))), int(rng.integers(0, len(filler)))
        return " ".join([*filler[:at], *w[a : a + 12], *filler[at:]])

    def pick(pool: list[dict[str, Any]]) -> dict[str, Any]:
        return pool[int(rng.integers(0, len(pool)))]

    def search_words(s: dict[str, Any]) -> str:
        w = s["text"].split()
        return " ".join(w[i] for i in rng.integers(0, len(w), int(rng.integers(2, 4))))

    kinds = {
        "exact": (lambda: (index.check_text, (pick(samples)["text"],), {}), ("in",)),
        "near": (lambda: (index.check_text, (near(pick(real)["text"]),), {}), ("in",)),
        "partial": (lambda: (index.check_text, (partial(pick(samples)["text"]),), {}), ("in",)),
        "absent": (lambda: (index.check_text, (absent_text(100),), {}), ("not in",)),
        # a long text: ~1 in 100 of its n-grams are the sketch's false positives, more than the phrases searched first
        "absent_long": (lambda: (index.check_text, (absent_text(10_000),), {}), ("not in",)),
        "passage_in_long": (lambda: (index.check_text, (in_long(pick(samples)["text"]),), {}), ("partly in", "in")),
        "url": (lambda: (index.check_url, (pick(samples)["url"],), {}), ("in",)),
        "domain": (lambda: (index.check_domain, (pick(samples)["domain"],), {}), ("in", "partly in")),
        "search": (
            lambda: (
                index.search,
                (search_words(s := pick(samples)),),
                {"language": s["language"] if rng.random() < 0.5 else None, "limit": 10},
            ),
            None,
        ),
    }
    results: dict[str, Any] = {"open_seconds": opened, "kinds": {}}
    for kind, (make, expected) in kinds.items():
        fn, args, kw = make()
        fn(*args, **kw)  # warm-up: first use of each code path
        times, ok = [], 0
        for _ in range(n_queries):
            fn, args, kw = make()
            t = time.perf_counter()
            report = fn(*args, **kw)
            times.append((time.perf_counter() - t) * 1000)
            ok += bool(report.hits) if expected is None else report.verdict in expected
        results["kinds"][kind] = {
            "p50": _percentile(times, 50), "p99": _percentile(times, 99), "mean": float(np.mean(times)),
            "max": max(times), "ok": ok / n_queries, "expected": " or ".join(expected or ("hits",)),
        }  # fmt: skip

    paragraphs = [absent_text(60) for _ in range(n_absent)]
    cfg = index.config
    hashes, counts = word_hashes(words(pl.Series(paragraphs)))
    tested = positive = para_any = 0
    ends = np.cumsum(counts)
    grams_per = counts - cfg.ngram + 1
    grams = gram_hashes(hashes, counts, cfg.ngram, 1)
    hit = index.sketch.contains(grams)
    tested, positive = len(grams), int(hit.sum())
    bounds = np.concatenate([[0], np.cumsum(np.maximum(grams_per, 0))])
    para_any = int(sum(hit[bounds[i] : bounds[i + 1]].any() for i in range(len(paragraphs))))
    del ends
    results["sketch"] = {
        "tested": tested, "positive": positive, "measured": positive / max(tested, 1),
        "configured": index.info["sketch"]["false_positive_rate_configured"],
        "expected": index.info["sketch"]["false_positive_rate_expected"],
        "paragraphs_with_a_false_positive": para_any / len(paragraphs),
    }  # fmt: skip
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--words", type=int, default=420, help="mean words per document (~3 KB)")
    parser.add_argument("--real-signatures", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--absent", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="working directory (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the release and its index")
    parser.add_argument("--build-only", action="store_true", help="no query figures (memory scaling runs)")
    args = parser.parse_args(argv)
    command = command_line("bench.index_scale", argv)
    work = args.out or Path(tempfile.mkdtemp(prefix="apertura-index-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(json.dumps({"machine": machine()}), file=sys.stderr)
    try:
        gen = in_process("bench.index_scale:generate", str(work), args.docs, args.words, args.real_signatures,
                         args.seed)  # fmt: skip
        print(f"generated {args.docs:,} docs in {gen['seconds']:.0f} s ({gen['text_bytes'] / 1e9:.2f} GB text)",
              file=sys.stderr)  # fmt: skip
        built = in_process("bench.index_scale:build", gen["release"])
        info = built["info"]
        size = sum(f["bytes"] for f in info["files"])
        rss = built["peak_rss_mb"]
        rows = [
            figure("index_build_seconds", built["seconds"], "s", rss, command, documents=args.docs,
                   text_gb=round(gen["text_bytes"] / 1e9, 3), stages=info["build_seconds"]),
            figure("index_build_docs_per_s", args.docs / built["seconds"], "docs/s", rss, command),
            figure("index_bytes_per_doc", size / args.docs, "B/doc", rss, command, index_mb=round(size / 1e6, 1),
                   by_part={k: round(sum(f["bytes"] for f in info["files"] if f["path"].startswith(k)) / args.docs, 1)
                            for k in ("entries", "signatures", "lsh", "ngrams", "text/")}),
            figure("index_build_peak_rss", rss, "MB", rss, command, documents=args.docs,
                   rss_per_doc_kb=round(rss * 1024 / args.docs, 3),
                   sampled_peak_anon_mb=round(built["rss_parts"].get("RssAnon", 0), 1),
                   sampled_peak_file_mb=round(built["rss_parts"].get("RssFile", 0), 1),
                   text_shards=len(info["text_shards"])),
        ]  # fmt: skip
        for row in rows:
            emit(row)
        if args.build_only:
            return
        q = in_process("bench.index_scale:queries", gen["release"], str(work / "samples.json"), args.queries,
                       args.absent, args.seed)  # fmt: skip
        qrss = q["peak_rss_mb"]
        emit(figure("index_open_seconds", q["open_seconds"], "s", qrss, command))
        for kind, r in q["kinds"].items():
            for p in ("p50", "p99"):
                emit(figure(f"query_{kind}_{p}", r[p], "ms", qrss, command, target_ms=50 if p == "p50" else 300,
                            ok=r[p] < (50 if p == "p50" else 300), mean_ms=round(r["mean"], 2),
                            answered_as_expected=r["ok"], expected=r["expected"], queries=args.queries))  # fmt: skip
        s = q["sketch"]
        emit(figure("sketch_fpr_measured", 100 * s["measured"], "%", qrss, command,
                    configured_pct=100 * s["configured"], expected_from_fill_pct=round(100 * s["expected"], 4),
                    ngrams_tested=s["tested"], positives=s["positive"],
                    absent_paragraphs=args.absent,
                    paragraphs_with_a_false_positive=round(s["paragraphs_with_a_false_positive"], 4)))  # fmt: skip
    finally:
        if not args.keep and args.out is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
