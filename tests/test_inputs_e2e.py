"""Whole runs over the other input kinds: a WARC streamed from a 127.0.0.1 server, WET, JSONL and Parquet."""

from __future__ import annotations

import json
import shutil

import duckdb
import polars as pl

from pipeline.cli import build
from pipeline.config import RunConfig
from pipeline.lookup import lookup
from pipeline.synthetic import make_page
from pipeline.verify import verify_release
from tests.helpers.warcs import Page, write_warc
from tests.sources.test_http import served  # noqa: F401  (fixture: a real http.server on 127.0.0.1)


def release_rows(out):
    return duckdb.sql(f"select * from read_parquet('{out}/documents/*.parquet') order by id").pl()


def test_warc_over_http_runs_and_show_refetches_the_bytes(served, planted, tmp_path):  # noqa: F811
    base, root = served
    local = planted[0][0]
    shutil.copy(local, root / local.name)
    out = tmp_path / "remote"
    manifest = build([f"{base}/{local.name}"], RunConfig(), out)
    assert verify_release(out).ok
    assert manifest["inputs"][0]["path"] == f"{base}/{local.name}"
    doc_id = release_rows(out)["id"][0]
    found = lookup(out, doc_id)
    assert found["source"]["digest_ok"] is True  # re-fetched from the server, digest re-checked


def test_wet_jsonl_and_parquet_inputs(tmp_path):
    pages = [make_page(i, f"http://t.test/{i}", lang) for i, lang in enumerate(["en", "de", "fr", "it"])]
    wet = tmp_path / "x.warc.wet.gz"
    write_warc(
        wet,
        [Page(p.url, p.text, content_type="text/plain", record_type="conversion") for p in pages[:2]],
        with_requests=False,
    )
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps({"id": f"j{i}", "text": p.text, "url": p.url}) for i, p in enumerate(pages[2:]))
        + "\n{not json\n"
    )
    parquet = tmp_path / "docs.parquet"
    pl.DataFrame(
        {"text": [pages[0].text, "", "Ein kurzer Satz."], "url": ["http://p.test/a", None, None]}
    ).write_parquet(parquet)
    out = tmp_path / "r"
    manifest = build([str(wet), str(jsonl), str(parquet)], RunConfig(), out)
    assert verify_release(out).ok
    formats = {e["format"]: e for e in manifest["inputs"]}
    assert set(formats) == {"wet", "jsonl", "parquet"}
    docs = release_rows(out)
    by_url = dict(zip(docs["url"], docs["language"], strict=True))
    assert by_url == {
        "http://t.test/0": "en",
        "http://t.test/1": "de",
        "http://t.test/2": "fr",
        "http://t.test/3": "it",
    }
    assert docs["extractor"].is_null().all()  # already-extracted text is not re-extracted
    ledger = duckdb.sql(f"select file_path, stage, reason from read_parquet('{out}/ledger/*.parquet')").fetchall()
    reasons = sorted((path.rsplit("/", 1)[-1], stage, reason) for path, stage, reason in ledger)
    assert reasons == [
        ("docs.jsonl", "read", "read_bad_json"),
        ("docs.parquet", "dedup", "dedup_exact"),  # the same text as the WET's first page
        ("docs.parquet", "quality", "gopher_short_doc"),
        ("docs.parquet", "read", "read_empty"),
    ]
    jsonl_doc = docs.filter(pl.col("source_format") == "jsonl").row(0, named=True)
    assert jsonl_doc["warc_record_id"] == "j0"
    assert "no WARC bytes" in lookup(out, jsonl_doc["id"])["source"]["error"]
