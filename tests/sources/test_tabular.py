"""Parquet and JSONL inputs with FineWeb-style columns, on real files."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers.reading import read_all


def fineweb_rows(n: int) -> dict[str, list]:
    return {
        "text": [f"Document number {i}." if i % 5 != 3 else None for i in range(n)],
        "id": [f"<urn:uuid:{i:08d}>" for i in range(n)],
        "dump": ["CC-MAIN-2024-10"] * n,
        "url": [f"https://site.test/{i}" for i in range(n)],
        "date": ["2024-02-21T10:00:00Z"] * n,
        "file_path": ["s3://commoncrawl/x.warc.gz"] * n,
        "language": ["en"] * n,
        "language_score": [0.97] * n,
        "token_count": [5] * n,
    }


def test_parquet_fineweb_columns(tmp_path: Path) -> None:
    path = tmp_path / "fw.parquet"
    cols = fineweb_rows(10)
    pq.write_table(pa.table(cols), path, row_group_size=3)
    df, report, frames = read_all(path, batch_size=4)
    assert sum(f.height for f in frames) == 10
    assert df["warc_record_offset"].to_list() == list(range(10))
    assert df["warc_record_length"].null_count() == 10
    assert df["record_type"].unique().to_list() == ["row"]
    assert df["warc_record_id"].to_list() == cols["id"]
    assert df["url"].to_list() == cols["url"]
    assert df["date"].unique().to_list() == ["2024-02-21T10:00:00Z"]
    assert df["payload"].null_count() == 10
    assert df["text"].to_list() == cols["text"]
    assert df["read_error"].to_list() == [None if t is not None else "read_no_text" for t in cols["text"]]
    assert dict(report.records_by_type) == {"row": 10}
    assert report.format == "parquet" and report.read_stopped is None
    data = path.read_bytes()
    assert (report.sha256, report.bytes) == (hashlib.sha256(data).hexdigest(), len(data))


def test_parquet_other_types_and_limits(tmp_path: Path) -> None:
    path = tmp_path / "typed.parquet"
    table = pa.table(
        {
            "text": ["short", "x" * 5000, "ok"],
            "id": pa.array([1, 2, 3], pa.int64()),
            "date": pa.array(
                [
                    dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
                    None,
                    dt.datetime(2023, 6, 1, 12, 0, 0, tzinfo=dt.UTC),
                ],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )
    pq.write_table(table, path)
    df, _, _ = read_all(path, max_payload_bytes=1000)
    assert df["warc_record_id"].to_list() == ["1", "2", "3"]
    assert df["url"].null_count() == 3
    assert df["date"].to_list() == ["2024-01-02T03:04:05Z", None, "2023-06-01T12:00:00Z"]
    assert df["read_error"].to_list() == [None, "read_too_large", None]
    assert df["text"].to_list() == ["short", None, "ok"]


def test_parquet_without_text_or_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "notext.parquet"
    pq.write_table(pa.table({"content": ["a", "b"]}), path)
    df, report, _ = read_all(path)
    assert df.height == 0
    assert report.read_stopped is not None and "no `text` column" in report.read_stopped["error"]
    assert report.bytes == path.stat().st_size

    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not really parquet")
    df, report, _ = read_all(bad)
    assert df.height == 0 and report.read_stopped["offset"] == 0
    assert report.sha256 == hashlib.sha256(bad.read_bytes()).hexdigest()


def jsonl_lines() -> list[str]:
    return [
        json.dumps(
            {
                "text": "first doc",
                "id": "a",
                "url": "https://s.test/a",
                "date": "2024-01-01T00:00:00Z",
                "dump": "x",
                "language": "en",
            }
        ),
        '{"text": "broken json',
        "",
        json.dumps({"id": "no-text"}),
        json.dumps({"text": None, "id": "null-text"}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"text": "café ✓", "id": 7, "date": "2024-01-01T02:00:00+02:00"}),
        json.dumps({"text": 42}),
    ]


@pytest.mark.parametrize("name", ["docs.jsonl", "docs.jsonl.gz", "docs.json.gz"])
def test_jsonl(tmp_path: Path, name: str) -> None:
    raw = ("\n".join(jsonl_lines()) + "\n").encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(raw) if name.endswith(".gz") else raw)
    df, report, _ = read_all(path, batch_size=3)
    assert df["warc_record_offset"].to_list() == [0, 1, 3, 4, 5, 6, 7]  # line numbers; the blank line is no record
    assert df["read_error"].to_list() == [
        None,
        "read_bad_json",
        "read_no_text",
        "read_no_text",
        "read_bad_json",
        None,
        "read_no_text",
    ]
    assert df["text"].to_list() == ["first doc", None, None, None, None, "café ✓", None]
    assert df["warc_record_id"].to_list() == ["a", None, "no-text", "null-text", None, "7", None]
    assert df["date"].to_list()[0] == "2024-01-01T00:00:00Z"
    assert df["date"].to_list()[5] == "2024-01-01T00:00:00Z"
    assert df["url"].to_list()[0] == "https://s.test/a"
    assert all(d for d in df.filter(pl.col("read_error").is_not_null())["read_detail"])
    assert dict(report.records_by_type) == {"row": 7}
    assert report.read_stopped is None
    data = path.read_bytes()
    assert (report.sha256, report.bytes) == (hashlib.sha256(data).hexdigest(), len(data))


def test_jsonl_last_line_without_newline_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b'{"text": "one"}\r\n{"text": "two"}')
    df, _, _ = read_all(path)
    assert df["text"].to_list() == ["one", "two"]


def test_jsonl_long_lines_and_too_large(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    big = "y" * 300_000
    path.write_text(json.dumps({"text": big}) + "\n" + json.dumps({"text": "small"}) + "\n")
    df, _, _ = read_all(path)
    assert df["text"].to_list() == [big, "small"]
    df, _, _ = read_all(path, max_payload_bytes=100_000)
    assert df["read_error"].to_list() == ["read_too_large", None]


def test_truncated_jsonl_gz(tmp_path: Path) -> None:
    lines = [json.dumps({"text": f"document {i} " + "z" * 50}) for i in range(200)]
    data = gzip.compress("\n".join(lines).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    df, report, _ = read_all(path, batch_size=50)
    assert report.read_stopped is not None
    assert report.read_stopped["offset"] == df.height  # the first line not (completely) read
    assert df["read_error"].null_count() == df.height
    assert df["text"].to_list() == [json.loads(line)["text"] for line in lines[: df.height]]
    assert report.bytes == len(data) // 2
