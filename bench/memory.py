"""Streaming memory: peak RSS of `apertura run` as a function of input size (it must stay flat).

    .venv/bin/python -m bench.memory [--sizes 100,500,1000] [--file-mb 50] [--workers 2] [--single-file]
                                     [--state-kb 34] [--index]

One `bench.corpus` corpus of max(--sizes) MB is written in --file-mb files; each size runs `apertura
run --extractor resiliparse --workers W` on the first size/file-mb files (so every shard is the same
size and what grows is the run), in a fresh process tree whose RSS (sum over the driver and its
workers, from /proc) is sampled every 0.1 s. With `--single-file`, the largest input is also run as
one concatenated WARC (gzip members concatenate into a valid multi-member file): one shard of
max(--sizes) MB, the case where only within-shard streaming keeps memory bounded.

Figures: `rss_vs_input_<N>mb` (peak tree RSS, MB; docs/s and MB/s alongside) and
`rss_growth_per_gb` (slope of peak RSS against input size, among inputs with at least W files so the
number of worker processes is the same: flat means close to 0; what remains is the driver's global
dedup state: 137 bytes of keys per candidate document). Sizes below W files run fewer workers.
`--state-kb` is `bench.corpus`'s page weight (34: Common Crawl's bytes per page, so 10 GB holds CC's
number of pages). The run skips the membership index (`--no-index`; `bench.index_scale` measures its
build) unless `--index` is given.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench._measure import MB, command_line, emit, figure, subprocess_tree


def run_size(files: list[str], out: Path, workers: int, index: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "pipeline.cli", "run", *files, "--out", str(out), "--workers", str(workers),
           "--extractor", "resiliparse", "--index" if index else "--no-index"]
    res = subprocess_tree(cmd, interval=0.1)
    if res["returncode"]:
        raise SystemExit(f"apertura run failed:\n{res['stderr'][-4000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    series = res["rss_series"]
    step = max(1, len(series) // 40)
    shutil.rmtree(out, ignore_errors=True)  # only the figures matter; keep the disk free for the next size
    return {"seconds": res["seconds"], "peak": res["peak_rss_mb_tree"], "docs": manifest["counts"]["inputs"],
            "kept": manifest["counts"]["kept"], "series": series[::step]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,500,1000", help="input sizes, MB of gzip WARC (10^6 B)")
    parser.add_argument("--file-mb", type=float, default=50, help="size of each WARC file (shard)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--single-file", action="store_true", help="also run the largest size as one WARC file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--state-kb", type=float, default=0, help="bench.corpus page weight (34: Common Crawl's)")
    parser.add_argument("--index", action="store_true", help="also build the membership index in each run")
    parser.add_argument("--out", type=Path, default=None, help="keep the corpus here (new directory)")
    args = parser.parse_args(argv)
    command = command_line("bench.memory", argv)
    sizes = sorted(float(s) for s in args.sizes.split(","))
    root = args.out or Path(tempfile.mkdtemp(prefix="apertura-memory-"))
    try:
        from bench.corpus import generate

        n_files = max(1, round(sizes[-1] / args.file_mb))
        corpus = generate(root / "warc", seed=args.seed, mb=sizes[-1], files=n_files, state_kb=args.state_kb)
        files, sizes_bytes = corpus["files"], [Path(f).stat().st_size for f in corpus["files"]]
        print(f"corpus: {corpus['docs']:,} pages, {corpus['bytes'] / MB:.0f} MB in {n_files} files "
              f"({corpus['seconds']} s)", file=sys.stderr)
        points: list[tuple[float, float]] = []
        for size in sizes:
            k = max(1, round(size / args.file_mb))
            mb = sum(sizes_bytes[:k]) / MB
            res = run_size(files[:k], root / f"release-{int(size)}", args.workers, args.index)
            if k >= args.workers:  # fewer files than workers: fewer worker processes, not comparable
                points.append((mb, res["peak"]))
            emit(figure(f"rss_vs_input_{int(size)}mb", res["peak"], "MB", res["peak"], command, input_mb=round(mb, 1),
                        files=k, docs=res["docs"], docs_per_s=round(res["docs"] / res["seconds"], 1),
                        mb_per_s=round(mb / res["seconds"], 2), seconds=round(res["seconds"], 1),
                        workers=args.workers, rss_series_s_mb=res["series"]))
        if args.single_file:
            single = root / "warc" / "single.warc.gz"
            with open(single, "wb") as out:
                for f in files:
                    with open(f, "rb") as src:
                        shutil.copyfileobj(src, out, 1 << 20)
            res = run_size([str(single)], root / "release-single", args.workers, args.index)
            mb = single.stat().st_size / MB
            emit(figure(f"rss_single_file_{int(sizes[-1])}mb", res["peak"], "MB", res["peak"], command,
                        input_mb=round(mb, 1), files=1, docs=res["docs"],
                        docs_per_s=round(res["docs"] / res["seconds"], 1), seconds=round(res["seconds"], 1),
                        rss_series_s_mb=res["series"]))
            single.unlink()
        if len(points) > 1:
            (x0, y0), (x1, y1) = points[0], points[-1]
            slope = (y1 - y0) / ((x1 - x0) / 1000) if x1 > x0 else 0.0
            emit(figure("rss_growth_per_gb", slope, "MB/GB", None, command,
                        points=[(round(x, 1), round(y, 1)) for x, y in points],
                        note="peak tree RSS: (largest - smallest input) / GB between them, among inputs with at "
                        "least --workers files (so the same number of worker processes)"))
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
