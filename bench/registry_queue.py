"""How long listing the rights-holder registry's pending queue takes, by queue size (issue 17, item 5).

    python -m bench.registry_queue --requests 5000 100000 [--dir /tmp/reg]

Requests are written as `Registry._append` writes them (one Parquet file each; no fingerprinting, so building
100k takes ~2 minutes) and folded into segments every SEGMENT_ROWS, as filing them through the app does.
Prints one JSON line per size: seconds for `pending()` (every row) and `pending_count()` (file names only).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pipeline.optout import registry as optout_registry
from pipeline.optout.registry import Registry


def build(path: Path, n: int) -> Registry:
    from tests.hardening.test_request_flood import _write_requests

    reg = Registry(path)
    if len(reg._request_files()) < n:
        _write_requests(reg.path / "requests", n)  # names are fixed by index: rewriting is idempotent
    loose = sorted(reg._loose().items(), key=lambda kv: kv[1].name)
    step = optout_registry.SEGMENT_ROWS
    for start in range(0, len(loose) - step + 1, step):  # what filing them one by one would have written
        chunk = dict(loose[start : start + step])
        reg._loose = lambda chunk=chunk: chunk  # type: ignore[method-assign]
        reg._fold()
    del reg._loose
    return reg


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, nargs="+", default=[5_000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/apertura-bench-registry"))
    args = parser.parse_args()
    for n in args.requests:
        reg = build(args.dir / f"n{n}", n)
        started = time.perf_counter()
        rows = reg.pending().height
        listed = time.perf_counter() - started
        started = time.perf_counter()
        counted = reg.pending_count()
        count = time.perf_counter() - started
        print(json.dumps({"bench": "registry_queue", "requests": n, "pending_rows": rows, "pending_s": round(listed, 3),
                          "count": counted, "count_s": round(count, 3)}))  # fmt: skip


if __name__ == "__main__":
    main()
