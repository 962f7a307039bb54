"""Read throughput A/B: `read_input` over the same WARCs, this tree against another (a base commit), alternately.

    git archive <base-commit> | tar -x -C /tmp/base
    .venv/bin/python -m bench.corpus --out /tmp/c --docs 16000 --files 2
    .venv/bin/python -m bench.read_ab --base /tmp/base --rounds 6 /tmp/c/*.warc.gz

Each round runs both trees in fresh processes, in alternating order, and times only the reading (the batches
pulled from `read_input`, default read config) in CPU seconds of the process, which the other sessions on a
shared machine disturb less than wall-clock time. Prints one JSON line: the median over rounds of this tree's
time / the base's (below 1.05: within a 5 % budget), with records/s and MB/s of each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

MEASURE = """
import json, sys, time
from pipeline.config import ReadConfig
from pipeline.sources.inputs import read_input
best, rows, size = None, 0, 0
for _ in range(int(sys.argv[1])):
    start, rows, size = time.process_time(), 0, 0
    for path in sys.argv[2:]:
        batches, report = read_input(path, batch_size=1024, read_config=ReadConfig())
        rows += sum(batch.height for batch in batches)
        size += report.bytes
    seconds = time.process_time() - start
    best = seconds if best is None else min(best, seconds)
print(json.dumps({"seconds": best, "rows": rows, "bytes": size}))
"""


def measure(tree: Path, files: list[str], repeat: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", MEASURE, str(repeat), *files], env=env, cwd=tree,
                          capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--base", type=Path, required=True, help="the other tree (e.g. a `git archive` of a commit)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=2, help="passes per process; the fastest counts")
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1]
    ratios, runs = [], {"base": [], "new": []}
    for n in range(args.rounds):
        order = [("base", args.base), ("new", here)] if n % 2 == 0 else [("new", here), ("base", args.base)]
        got = {name: measure(tree, args.files, args.repeat) for name, tree in order}
        assert got["base"]["rows"] == got["new"]["rows"], got  # the same records read by both
        for name in runs:
            runs[name].append(got[name]["seconds"])
        ratios.append(got["new"]["seconds"] / got["base"]["seconds"])
        print(f"round {n + 1}: base {got['base']['seconds']:.3f} s, new {got['new']['seconds']:.3f} s, "
              f"new/base {ratios[-1]:.3f}", file=sys.stderr)  # fmt: skip
    rows, size = got["new"]["rows"], got["new"]["bytes"]
    base, new = statistics.median(runs["base"]), statistics.median(runs["new"])
    print(json.dumps({
        "name": "read_throughput_ab", "value": round(statistics.median(ratios), 4), "unit": "new/base CPU time",
        "base_records_per_s": round(rows / base), "new_records_per_s": round(rows / new),
        "base_mb_per_s": round(size / 1e6 / base, 1), "new_mb_per_s": round(size / 1e6 / new, 1),
        "rounds": args.rounds, "records": rows, "bytes": size, "files": args.files,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
