"""Where the time goes: Apertura's stages one by one on a `bench.corpus` WARC (the peers' input).

    .venv/bin/python -m bench.stage_profile [--docs 2000] [--files 4] [--languages en] [--extractor trafilatura]

Reuses `bench.spine`'s stage runners (each stage in a fresh process, batches handed on as Parquet parts
with the executor's batch boundaries, only the stage's own work timed): reading, every step of
`pipeline.steps.DEFAULT`, `add_dedup_keys`, `find_duplicates`; then the fixed costs of a run that are not a stage:
the CLI's start-up (imports) and the opt-out policy pre-pass. One line per stage: docs/s and share of
the summed stage time (`share`), so the stages to optimise are the ones at the top.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._measure import command_line, emit, figure


def policy_prepass(specs: list[str]) -> dict:
    """The opt-out pre-pass alone (`pipeline.sources.policy_scan.collect` over every input)."""
    from pipeline.sources.policy_scan import collect

    start = time.perf_counter()
    collect(specs)
    return {"seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--languages", default="en")
    parser.add_argument("--extractor", choices=("trafilatura", "resiliparse"), default="trafilatura")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    command = command_line("bench.stage_profile", argv)

    from bench import spine
    from bench._measure import in_process
    from bench.corpus import generate
    from pipeline.config import RunConfig
    from pipeline.executors.local import STAGES

    root = Path(tempfile.mkdtemp(prefix="apertura-profile-"))
    try:
        corpus = generate(root / "warc", seed=args.seed, docs=args.docs, files=args.files,
                          languages=tuple(args.languages.split(",")))
        settings = RunConfig().model_dump()
        settings["extract"]["extractor"] = args.extractor
        config_json = RunConfig.model_validate(settings).model_dump_json()
        stages = root / "stages"
        stages.mkdir()
        timings: list[tuple[str, dict]] = []
        read = spine.measure(spine.stage_read, corpus["files"], config_json, str(stages / "source"))
        timings.append(("read_input", read))
        previous = stages / "source"
        for stage in STAGES:
            res = spine.measure(spine.stage_step, stage, config_json, str(previous), str(stages / stage))
            timings.append((stage, res))
            previous = stages / stage
        keys = spine.measure(spine.stage_dedup_keys, config_json, str(previous), str(stages / "keys"), 1)
        timings.append(("add_dedup_keys", keys))
        dups = spine.measure(spine.stage_find_duplicates, config_json, str(stages / "keys"),
                             str(stages / "dedup.parquet"))
        timings.append(("find_duplicates", dups))
        pre = in_process("bench.stage_profile:policy_prepass", corpus["files"])
        timings.append(("optout_policy_prepass", {**pre, "docs": corpus["docs"]}))
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import pipeline.cli, pipeline.executors.local, pipeline.release"],
                       check=True)
        timings.append(("cli_imports", {"seconds": time.perf_counter() - start, "docs": corpus["docs"]}))
        total = sum(t["seconds"] for _, t in timings)
        for name, t in sorted(timings, key=lambda x: -x[1]["seconds"]):
            emit(figure(f"profile_{args.extractor}_{name}", t["docs"] / t["seconds"], "docs/s", t.get("peak_rss_mb"),
                        command, seconds=round(t["seconds"], 2), share=round(t["seconds"] / total, 3),
                        docs=t["docs"], removed=t.get("removed")))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
