"""Memory bounded by bytes, not rows (issue 17, item 4): the issue's memory bombs, smaller but of the same shape,
each run in a subprocess whose peak RSS is asserted.

* one huge line in a tiny .jsonl.gz (the issue: 500 MB in 746 KB took 2.27 GB): counted, never held;
* one huge cell in a tiny Parquet file (500 MB in 48 KB took 4.4 GB): a one-row group is not even decompressed;
  in a group with other rows it is decompressed once (pyarrow has no per-value skip), but no batch holds it with
  other rows' text;
* many large rows (32 x 9 MiB took 5.9 GB in the quality step): batches are cut at max_batch_bytes, so the quality
  step's working memory follows the batch's text, not its row count.

Full-size figures are in bench/RESULTS.md (bench/quality_memory.py for the quality step).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]
MB = 1_000_000

# Peak RSS from /proc/self/status (VmHWM): getrusage's ru_maxrss survives exec, so a child of a large pytest
# process would report the parent's size.
PEAK = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024"
RUN = rf"""
import json, sys
from pipeline.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    print(json.dumps({{"peak_mb": {PEAK}}}))
"""


def peak_rss_mb(script: str, *args: str, timeout: float = 600) -> float:
    """Run `script` in a fresh Python (this tree's code) and return the peak RSS it printed last."""
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=timeout,
                         cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"]


def run(*inputs: Path, out: Path, config: dict | None = None) -> float:
    args = ["run", *map(str, inputs), "--out", str(out), "--no-index"]
    if config:
        (out.parent / "run.json").write_text(json.dumps(config))
        args += ["--config", str(out.parent / "run.json")]
    return peak_rss_mb(RUN, *args)


def ledger(release: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted((release / "ledger").glob("*.parquet")))


def baseline(tmp_path: Path) -> float:
    small = tmp_path / "small.jsonl"
    small.write_text(json.dumps({"id": "s", "text": "a short text"}) + "\n")
    return run(small, out=tmp_path / "baseline")


@pytest.fixture(scope="module")
def base_mb(tmp_path_factory) -> float:
    """Peak RSS of `apertura run` on one tiny document: imports, models, the steps."""
    return baseline(tmp_path_factory.mktemp("baseline"))


def _parquet_with_cell(path: Path, cell_bytes: int, *, neighbours: int = 0) -> None:
    """A Parquet file whose first row's text is `cell_bytes` of 'a' (built from a buffer, no Python str),
    followed by `neighbours` short rows in the same row group."""
    data = np.full(cell_bytes, ord("a"), dtype=np.uint8).tobytes() + b"short text" * neighbours
    offsets = np.array([0, cell_bytes, *(cell_bytes + 10 * (i + 1) for i in range(neighbours))], dtype=np.int64)
    text = pa.LargeStringArray.from_buffers(1 + neighbours, pa.py_buffer(offsets), pa.py_buffer(data))
    table = pa.table({"id": [f"r{i}" for i in range(1 + neighbours)], "text": text.cast(pa.string())})
    pq.write_table(table, path, compression="zstd", use_dictionary=False, row_group_size=1 + neighbours)


def test_one_huge_jsonl_line_is_counted_not_held(tmp_path, base_mb):
    bomb = tmp_path / "line.jsonl.gz"
    size = 300 * MB
    with gzip.open(bomb, "wb", compresslevel=1) as f:
        f.write(b'{"id": "bomb", "url": "http://bomb.test/", "text": "')
        for _ in range(size // MB):
            f.write(b"a" * MB)
        f.write(b'"}\n' + json.dumps({"id": "after", "text": "the line after the bomb"}).encode() + b"\n")
    assert bomb.stat().st_size < 2 * MB
    peak = run(bomb, out=tmp_path / "r")
    assert peak < base_mb + 150, (peak, base_mb)  # the 300 MB line was never in memory (it took ~4x its size)
    removed = ledger(tmp_path / "r").sort("warc_record_offset")
    assert removed["reason"][0] == "read_too_large" and "not parsed" in removed["detail"][0]
    assert removed.height == 2  # the line after it was read too (and is too short to keep)


def test_one_huge_parquet_cell_in_its_own_row_group_is_not_decompressed(tmp_path, base_mb):
    bomb = tmp_path / "cell.parquet"
    _parquet_with_cell(bomb, 150 * MB)
    assert bomb.stat().st_size < 2 * MB
    peak = run(bomb, out=tmp_path / "r")
    assert peak < base_mb + 150, (peak, base_mb)  # ~9x the cell before
    removed = ledger(tmp_path / "r")
    assert removed["reason"].to_list() == ["read_too_large"] and "not read" in removed["detail"][0]


def test_a_huge_parquet_cell_among_other_rows_is_read_alone(tmp_path, base_mb):
    """pyarrow decompresses the cell's page to learn its size (the page and its array: ~3x the cell, not ~9x); the
    value is dropped while still in Arrow, so Polars never copies it."""
    bomb = tmp_path / "cell.parquet"
    _parquet_with_cell(bomb, 150 * MB, neighbours=3)
    peak = run(bomb, out=tmp_path / "r")
    removed = ledger(tmp_path / "r")
    assert removed.filter(pl.col("warc_record_id") == "r0")["reason"].to_list() == ["read_too_large"]
    assert removed.height == 4  # the short rows are read as rows of their own (and are too short to keep)
    assert peak < base_mb + 4 * 150, (peak, base_mb)


QUALITY = rf"""
import json, sys
import polars as pl
from pipeline.config import ReadConfig, RunConfig
from pipeline.sources.inputs import read_input
from pipeline.steps.quality import QualityStep
cfg = RunConfig(read=ReadConfig(max_batch_bytes=int(sys.argv[2])))
step = QualityStep(cfg)
batches, _ = read_input(sys.argv[1], batch_size=cfg.batch_size, read_config=cfg.read)
rows = []
for batch in batches:
    batch = batch.with_columns(language=pl.lit("en"))  # what the language step would have added
    if not rows:  # kernels compiled on a small slice first: their memory is not the batch's
        step.annotate(batch.head(1))
        before = {PEAK}
    rows.append(batch.height)
    step.annotate(batch)
peak = {PEAK}
print(json.dumps({{"rows": rows, "peak_mb": peak, "grew_mb": peak - before}}))
"""


def test_many_large_rows_are_cut_into_batches_by_bytes(tmp_path):
    """16 rows of 2 MiB with max_batch_bytes = 4 MiB: batches of 2 rows, and the quality step's memory grows by a
    multiple of 4 MiB, not of 32 MiB (everything in one 16-row batch, as before)."""
    from pipeline.synthetic import make_page

    unit = "\n\n".join(" ".join(make_page(i, f"http://q.test/{i}", "en", paragraphs=40).paragraphs) for i in range(20))
    text = (unit * (2 * 1024 * 1024 // len(unit) + 1))[: 2 * 1024 * 1024]
    bomb = tmp_path / "rows.jsonl"
    bomb.write_text("".join(json.dumps({"id": f"big{i}", "text": text}) + "\n" for i in range(16)))
    args = [sys.executable, "-c", QUALITY, str(bomb), str(4 * 1024 * 1024)]
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["rows"] == [2] * 8
    # ~18x a 4 MiB batch (bench/quality_memory.py: 6-16x at 8-32 MB); one 32 MiB batch would need 200-500 MB
    assert found["grew_mb"] < 150, found
