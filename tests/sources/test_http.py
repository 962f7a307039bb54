"""http(s):// inputs, streamed from a real HTTP server on 127.0.0.1 started by the test."""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest

from pipeline.config import ReadConfig
from pipeline.sources.inputs import InputError, read_input
from tests.helpers.reading import read_all
from tests.helpers.warcs import make_pages, write_warc


class Handler(SimpleHTTPRequestHandler):
    """Static files; `.gz` served with Content-Encoding: gzip (as some servers do), and
    `/cut/<name>` announces the full length but sends only half, then closes."""

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def end_headers(self) -> None:
        if self.path.endswith(".gz"):
            self.send_header("Content-Encoding", "gzip")
        super().end_headers()

    def do_GET(self) -> None:
        if self.path.startswith("/cut/"):
            data = (Path(self.directory) / self.path.removeprefix("/cut/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            time.sleep(0.3)  # let the client receive the first half before the connection drops
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_warc_gz_over_http_equals_local(served) -> None:
    base, root = served
    pages = make_pages(9, size=2000)
    write_warc(root / "crawl.warc.gz", pages)
    remote_df, remote, _ = read_all(f"{base}/crawl.warc.gz", batch_size=4)
    local_df, local, _ = read_all(str(root / "crawl.warc.gz"), batch_size=4)
    data = (root / "crawl.warc.gz").read_bytes()
    # the server said Content-Encoding: gzip, but the reader took the bytes as they were sent
    assert remote.sha256 == local.sha256 == hashlib.sha256(data).hexdigest()
    assert remote.bytes == len(data)
    assert remote.read_stopped is None
    assert remote.records_by_type == local.records_by_type
    assert remote_df.equals(local_df)
    assert remote_df["payload"].to_list() == [p.body for p in pages]


def test_plain_warc_and_jsonl_over_http(served) -> None:
    base, root = served
    write_warc(root / "plain.warc", make_pages(3), gzip=False)
    df, report, _ = read_all(f"{base}/plain.warc", batch_size=4)
    assert df.height == 3 and report.read_stopped is None

    lines = [json.dumps({"text": f"doc {i}", "id": i}) for i in range(5)]
    (root / "docs.jsonl.gz").write_bytes(gzip.compress("\n".join(lines).encode()))
    df, report, _ = read_all(f"{base}/docs.jsonl.gz?token=abc", batch_size=4)
    assert df["text"].to_list() == [f"doc {i}" for i in range(5)]
    assert report.format == "jsonl" and report.read_stopped is None


def test_missing_url_is_an_input_error(served) -> None:
    base, _ = served
    with pytest.raises(InputError, match="HTTP 404"):
        read_input(f"{base}/nope.warc.gz", batch_size=4, read_config=ReadConfig())


def test_unreachable_url_is_an_input_error(served) -> None:
    base, _ = served
    port = int(base.rsplit(":", 1)[1])
    with pytest.raises(InputError, match="cannot fetch"):
        read_input(
            f"http://127.0.0.1:{port + 1 if port < 65535 else 1}/x.warc.gz", batch_size=4, read_config=ReadConfig()
        )


def test_connection_dropped_mid_file(served) -> None:
    base, root = served
    pages = make_pages(8, size=3000)
    offsets = write_warc(root / "big.warc", pages, gzip=False)
    df, report, _ = read_all(f"{base}/cut/big.warc", batch_size=4)
    assert report.read_stopped is not None
    assert "RemoteProtocolError" in report.read_stopped["error"]  # the exception class is named
    size = (root / "big.warc").stat().st_size
    assert 0 < report.bytes <= size // 2
    assert df.height > 0  # records before the drop were streamed out
    assert report.eligible == df.height
    stop = report.read_stopped["offset"]
    for page, off in zip(pages, offsets, strict=True):
        got = df.filter(pl.col("warc_record_offset") == off)
        if got.height == 0:
            assert off >= stop
        elif got["read_error"][0] is None:
            assert got["payload"][0] == page.body
