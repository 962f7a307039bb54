"""`apertura show` and the app's re-check read a record with the one WARC record parser the reader uses: a
digest in hex re-checks like one in base32, a record that expands past the size limit is "too large to
re-check" (never decoded, bounded memory), and a record that is not the one the release row names (an input
replaced at the same path) fails loudly."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from audit_app import source
from pipeline.cli import app, build
from pipeline.config import RunConfig
from pipeline.synthetic import make_page
from tests.helpers.warcs import write_warc

ROOT = Path(__file__).resolve().parents[1]
CONFIG = RunConfig.model_validate({"extract": {"extractor": "resiliparse"}})
BOMB_BYTES = 300 * 1024 * 1024


def response(writer: WARCWriter, url: str, body: bytes, digest: str | None = None, headers=()) -> object:
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"), *headers], protocol="HTTP/1.1")
    record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http)
    if digest is not None:
        record.rec_headers.replace_header("WARC-Payload-Digest", digest)
    return record


def gzip_bomb(size: int) -> bytes:
    """gzip of `size` zero bytes, made in pieces (a few hundred KB for 300 MiB)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join(z.compress(block) for _ in range(size >> 20)) + z.flush()


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("show")
    warc = root / "digests.warc.gz"
    pages = {f"http://show.test/{name}": make_page(i, f"http://show.test/{name}", "en").html().encode()
             for i, name in enumerate(("hex", "sha256", "base32"))}  # fmt: skip
    with open(warc, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for url, body in pages.items():
            name = url.rsplit("/", 1)[1]
            digest = {
                "hex": "sha1:" + hashlib.sha1(body).hexdigest(),
                "sha256": "SHA-256:" + base64.b32encode(hashlib.sha256(body).digest()).decode().rstrip("="),
                "base32": None,
            }[name]
            writer.write_record(response(writer, url, body, digest))
        writer.write_record(response(writer, "http://show.test/bomb", gzip_bomb(BOMB_BYTES),
                                     headers=[("Content-Encoding", "gzip")]))  # fmt: skip
    build([str(warc)], CONFIG, root / "r", index=False)
    ids = {}
    for table in ("documents", "ledger"):
        for row in pl.read_parquet(root / "r" / table).iter_rows(named=True):
            ids[row["url"]] = row["id"]
    return root / "r", warc, ids


def show(release: Path, doc_id: str, *extra: str):
    result = CliRunner().invoke(app, ["show", str(release), doc_id, *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.mark.parametrize("name", ["hex", "sha256", "base32"])
def test_digests_in_hex_and_any_algorithm_recheck_as_they_read(release, name):
    out, _, ids = release
    docs = pl.read_parquet(out / "documents")
    assert f"http://show.test/{name}" in docs["url"].to_list()  # the reader found the digest right
    result = show(out, ids[f"http://show.test/{name}"])
    assert result.exit_code == 0, result.output
    assert "payload digest matches" in result.output and "MISMATCH" not in result.output


def test_a_record_that_expands_past_the_limit_is_too_large_to_recheck_in_bounded_memory(release):
    out, warc, ids = release
    ledger = pl.read_parquet(out / "ledger")
    bomb = ledger.filter(pl.col("url") == "http://show.test/bomb").row(0, named=True)
    assert bomb["reason"] == "read_too_large" and bomb["warc_record_length"] < 1_000_000
    # the child reports its own peak (VmHWM): ru_maxrss of children carries the pytest process's size over exec
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write(next(line for line in open('/proc/self/status')"
        " if line.startswith('VmHWM'))))\n"
        "from pipeline.cli import app; app()"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-c", code, "show", str(out), ids["http://show.test/bomb"]],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "too large to re-check" in " ".join(done.stdout.split())
    peak_mb = int(done.stderr.split("VmHWM:")[-1].split()[0]) / 1024
    assert peak_mb < 400, f"show peaked at {peak_mb:.0f} MB for a 300 MiB bomb"
    recheck = source.recheck(str(warc), bomb["warc_record_offset"], bomb["warc_record_length"],
                             record_id=bomb["warc_record_id"], url=bomb["url"], root=warc.parent)  # fmt: skip
    assert recheck.status == "too_large" and "too large to re-check" in recheck.message


def test_an_input_replaced_at_the_same_path_fails_show_loudly(tmp_path):
    """The run read a.warc; then another crawl was written to the same path, record for record the same sizes
    (URLs and bodies of the same lengths): the byte range the row names now holds another record."""
    from tests.helpers.warcs import Page

    html = make_page(1, "http://aaaa.test/page", "en").html()

    def pages(host: str, letter: str) -> list[Page]:
        return [Page(f"http://{host}/page", html.replace("e", letter))]

    warc = tmp_path / "a.warc"
    write_warc(warc, pages("aaaa.test", "e"), gzip=False)
    build([str(warc)], CONFIG, tmp_path / "r", index=False)
    doc = pl.read_parquet(tmp_path / "r" / "documents").row(0, named=True)
    assert show(tmp_path / "r", doc["id"]).exit_code == 0
    size = warc.stat().st_size
    write_warc(warc, pages("bbbb.test", "o"), gzip=False)
    assert warc.stat().st_size == size
    result = show(tmp_path / "r", doc["id"])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "MISMATCH record id" in text and "MISMATCH URL" in text and "MISMATCH payload digest header" in text
    assert "payload digest matches" in text  # the new record is whole: only the comparison with the row catches it
    as_json = show(tmp_path / "r", doc["id"], "--json")
    assert as_json.exit_code == 1 and len(json.loads(as_json.stdout)["source"]["differences"]) == 3
    recheck = source.recheck(str(warc), doc["warc_record_offset"], doc["warc_record_length"],
                             release_digest=doc["warc_payload_digest"], record_id=doc["warc_record_id"],
                             url=doc["url"], root=tmp_path)  # fmt: skip
    assert recheck.status == "mismatch" and "record id" in recheck.message and not recheck.ok


def test_show_an_unreadable_span(tmp_path):
    path = tmp_path / "g.warc.gz"
    write_warc(path, [])
    path.write_bytes(b"junk at the start\r\n" + path.read_bytes())
    build([str(path)], CONFIG, tmp_path / "r", index=False)
    hole = pl.read_parquet(tmp_path / "r" / "ledger").row(0, named=True)
    assert (hole["record_type"], hole["reason"]) == ("unreadable", "read_unparsable")
    result = show(tmp_path / "r", hole["id"])
    assert result.exit_code == 0 and "an unreadable span" in " ".join(result.output.split())
