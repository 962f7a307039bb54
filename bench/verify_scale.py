"""`apertura verify` at scale: what checking a release costs, against what merely reading it costs.

    .venv/bin/python -m bench.verify_scale [--pages 20000] [--repeat 2] [--out DIR] [--keep]

A real release (`apertura run` with its membership index) of a `bench.corpus` WARC corpus of `--pages` pages, then,
each in a fresh spawned process, `--repeat` times:
  * the floor any verifier pays: the sha256 of every file the manifest lists, read once (what `sha256sum -c` does);
  * `verify_release` of the same release: seconds, documents/s, MB/s of the listed files, peak RSS, and its ratio
    to the floor; with the time of each of its checks (the check functions timed where verify calls them), so the
    share of recomputing every text's hashes, the index's entries or the commitments is known. The compiled
    normalisation kernels' load (~1 s, once per process) is timed apart, before verify: `kernel_load_s`.

One JSON line per figure on stdout; notes on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._measure import MB, emit, figure, in_process, machine

# the parts of verify timed apart: (module, function) as verify calls them
TIMED = {
    "files_sha256": ("pipeline.verify", "_check_files"),
    "schemas": ("pipeline.verify", "_check_schemas"),
    "counts_and_figures": ("pipeline.verify", "_check_counts"),
    "url_identities": ("pipeline.verify", "_check_url_identity"),
    "text_hashes": ("pipeline.verify", "_check_text_hashes"),
    "signatures": ("pipeline.verify", "_check_signatures"),
    "near_estimates": ("pipeline.verify", "_check_near_estimates"),
    "bytes": ("pipeline.verify", "_check_bytes"),
    "descriptions": ("pipeline.verify", "_check_descriptions"),
    "optout": ("pipeline.verify", "_check_optout"),
    "registry": ("pipeline.verify", "_check_registry"),
    "commitments": ("pipeline.proofs.commitments", "check_commitments"),
    "index": ("pipeline.index", "verify_index"),
}


def listed_bytes(release: str) -> tuple[list[Path], int]:
    manifest = json.loads((Path(release) / "manifest.json").read_text(encoding="utf-8"))
    paths = [Path(release) / f["path"] for f in manifest["files"]]
    return paths, sum(p.stat().st_size for p in paths)


def hash_floor(release: str) -> dict[str, Any]:
    """Child: the sha256 of every listed file, 1 MiB at a time."""
    paths, total = listed_bytes(release)
    t = time.perf_counter()
    for path in paths:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    return {"seconds": time.perf_counter() - t, "bytes": total}


def timed_verify(release: str) -> dict[str, Any]:
    """Child: `verify_release`, with each part in TIMED wrapped in a timer where verify looks it up."""
    import importlib

    import polars as pl

    from pipeline.fingerprints import normalise
    from pipeline.verify import verify_release

    spent = dict.fromkeys(TIMED, 0.0)

    def timer(part: str, function):
        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[part] += time.perf_counter() - t

        return timed

    for part, (module, name) in TIMED.items():
        owner = importlib.import_module(module)
        setattr(owner, name, timer(part, getattr(owner, name)))
    t = time.perf_counter()
    normalise(pl.Series(["Ünïcode and ASCII"]))  # the compiled kernels' load, a fixed cost per process: apart
    load = time.perf_counter() - t
    t = time.perf_counter()
    report = verify_release(Path(release))
    total = time.perf_counter() - t
    failed = [c.name for c in report.checks if not c.ok]
    return {"seconds": total, "kernel_load_s": load, "parts": spent, "ok": not failed, "failed": failed}


def build_release(warcs: str, out: Path) -> dict[str, Any]:
    """Child: the release of the corpus, with its index (as `apertura run` writes it)."""
    from pipeline.cli import build
    from pipeline.config import RunConfig
    from pipeline.sources.inputs import expand_inputs

    config = RunConfig.model_validate({**RunConfig().model_dump(), "extract": {"extractor": "resiliparse"}})
    manifest = build(expand_inputs([warcs]), config, out, workers=2, index=True)
    return {"kept": manifest["counts"]["kept"], "removed": manifest["counts"]["removed"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", help="working directory (default: a temporary one, removed at the end)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args()
    print(json.dumps({"machine": machine()}), file=sys.stderr)
    base = Path(args.out or tempfile.mkdtemp(prefix="verify_scale_"))
    corpus, release = base / "corpus", base / "release"
    cmd = f"python -m bench.verify_scale --pages {args.pages} --repeat {args.repeat}"
    try:
        if not (release / "manifest.json").is_file():
            subprocess.run([sys.executable, "-m", "bench.corpus", "--out", str(corpus), "--docs", str(args.pages),
                            "--files", "4"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
            built = in_process("bench.verify_scale:build_release", str(corpus / "*.warc.gz"), release)
            print(f"release: {built['kept']} kept, {built['removed']} removed", file=sys.stderr)
        manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
        documents, records = manifest["counts"]["kept"], manifest["counts"]["kept"] + manifest["counts"]["removed"]
        floors, runs = [], []
        for _ in range(args.repeat):  # alternated, so that both see the same page cache and machine load
            floors.append(in_process("bench.verify_scale:hash_floor", str(release)))
            runs.append(in_process("bench.verify_scale:timed_verify", str(release)))
            if not runs[-1]["ok"]:
                raise SystemExit(f"the release does not verify: {runs[-1]['failed']}")
        floor_s = statistics.median(f["seconds"] for f in floors)
        verify_s = statistics.median(r["seconds"] for r in runs)
        size_mb = floors[0]["bytes"] / MB
        rss = max(r["peak_rss_mb"] for r in runs)
        load_s = statistics.median(r["kernel_load_s"] for r in runs)
        emit(figure("verify_seconds", verify_s, "s", rss, cmd, "sha256 of the listed files", floor_s,
                    pages=args.pages, documents=documents, records=records, release_mb=round(size_mb, 1),
                    kernel_load_s=round(load_s, 3)))  # fmt: skip
        emit(figure("verify_docs_per_s", documents / verify_s, "docs/s", rss, cmd))
        emit(figure("verify_mb_per_s", size_mb / verify_s, "MB/s", rss, cmd, "sha256 of the listed files",
                    size_mb / floor_s))  # fmt: skip
        for part in TIMED:
            share = statistics.median(r["parts"][part] / r["seconds"] for r in runs) * 100
            emit(figure(f"verify_share_{part}", share, "%", None, cmd,
                        seconds=round(statistics.median(r["parts"][part] for r in runs), 3)))  # fmt: skip
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
