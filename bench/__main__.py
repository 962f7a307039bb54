"""`python -m bench [NAME ...] [--quick] [--jsonl FILE] [-- ARGS]`: run benchmarks, one JSON line per figure.

    .venv/bin/python -m bench                      # every default benchmark (~15 min on 2 cores)
    .venv/bin/python -m bench --quick              # smaller inputs (~4 min): a smoke run of the harness
    .venv/bin/python -m bench peers dedup          # a subset, by name
    .venv/bin/python -m bench peers -- --docs 4000 # one benchmark with its own arguments
    .venv/bin/python -m bench --list

Each benchmark is its own module (`python -m bench.<module> --help`) and runs in a child process; its
JSON lines ({name, value, unit, baseline, baseline_value, ratio, peak_rss_mb, command, ...}) are passed
through on stdout and, with `--jsonl FILE`, appended to FILE after a header line naming the date and
machine (what RESULTS.md is written from). Human-readable notes go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from bench._measure import machine

# name -> (module, default args, --quick args, in the default set)
BENCHMARKS: dict[str, tuple[str, list[str], list[str], bool]] = {
    "minhash": ("bench.minhash", ["--docs", "5000"], ["--docs", "2000", "--repeat", "1"], True),
    "dedup": ("bench.dedup_scale", [], ["--docs", "100000", "--quality-docs", "5000"], True),
    "peers": ("bench.peers", ["--docs", "2000", "--files", "4", "--workers", "2"],
              ["--docs", "400", "--files", "2", "--workers", "2", "--repeat", "1"], True),
    "spine": ("bench.spine", [], ["--mb", "5", "--repeat", "1"], True),
    "memory": ("bench.memory", ["--sizes", "100,500,1000", "--single-file"], ["--sizes", "20,60", "--file-mb", "10"],
               True),
    "profile": ("bench.stage_profile", ["--docs", "2000", "--files", "4"], ["--docs", "500", "--files", "2"], True),
    # the other teams' benchmarks, runnable by name from here too
    "optout": ("bench.optout", [], ["--pages", "20000"], False),
    "crawl": ("bench.crawl", [], ["--pages", "100"], False),
    "app_scale": ("bench.app_scale", [], ["--docs", "100000", "--ledger", "30000"], False),
    "index_scale": ("bench.index_scale", [], ["--docs", "100000"], False),
    "proofs_scale": ("bench.proofs_scale", ["scale"], ["scale", "--docs", "100000", "--removed", "40000"], False),
    "verify_scale": ("bench.verify_scale", [], ["--pages", "2000", "--repeat", "1"], False),
}


def run_one(module: str, args: list[str], sink: list[dict]) -> int:
    """Run `python -m module args`, echo its JSON lines, collect them; stderr goes straight through."""
    proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        with contextlib.suppress(json.JSONDecodeError):
            sink.append(json.loads(line))
    return proc.wait()


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all defaults): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="small inputs: check the harness, not the figures")
    parser.add_argument("--jsonl", type=Path, default=None, help="append the figures to this file")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, (module, default, quick, on) in BENCHMARKS.items():
            print(f"{name:<12} {module:<22} default={' '.join(default) or '-'}  quick={' '.join(quick) or '-'}"
                  f"{'' if on else '  (by name only)'}")
        return
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    names = args.names or [n for n, spec in BENCHMARKS.items() if spec[3]]
    if extra and len(names) != 1:
        raise SystemExit("arguments after -- go to exactly one benchmark: name it")
    figures: list[dict] = []
    failed = []
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in names:
        module, default, quick, _ = BENCHMARKS[name]
        bench_args = extra or (quick if args.quick else default)
        print(f"== {name}: python -m {module} {' '.join(bench_args)}", file=sys.stderr, flush=True)
        if run_one(module, bench_args, figures):
            failed.append(name)
    if args.jsonl is not None:
        with open(args.jsonl, "a") as f:
            f.write(json.dumps({"run": started, "machine": machine(), "benchmarks": names, "quick": args.quick}) + "\n")
            for row in figures:
                f.write(json.dumps(row) + "\n")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
