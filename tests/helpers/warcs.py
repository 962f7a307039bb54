"""Build small, real WARC files for tests (written with warcio, read back by the pipeline).

    from tests.helpers.warcs import Page, write_warc
    offsets = write_warc(tmp_path / "a.warc.gz", [Page("http://a.test/", "<p>hi</p>")])

Every page becomes one record: a `response` (HTTP headers + body) by default, or a `resource` /
`conversion` (WET) record whose block is the body itself (`Page.record_type`). `write_warc`
returns the byte offset of each page's record, in page order, so tests can check the readers'
`warc_record_offset`. Use `record_spans` for the (offset, length, type) of every record in a file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

DEFAULT_DATE = "2025-01-02T03:04:05Z"
_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 404: "Not Found", 500: "Internal Server Error"}


@dataclass(frozen=True)
class Page:
    """One captured page. `html` is the HTTP body exactly as stored (a str is encoded as UTF-8).

    `extra_headers` are added to the HTTP response headers, e.g. (("Content-Encoding", "gzip"),)
    together with an already gzip-compressed `html`; with a Transfer-Encoding header no
    Content-Length is added (pass the body already chunked). For `record_type` 'resource' or
    'conversion' the body is the record block and `content_type` the WARC Content-Type.
    """

    url: str
    html: bytes | str
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    extra_headers: Sequence[tuple[str, str]] = ()
    record_type: str = "response"
    date: str = DEFAULT_DATE

    @property
    def body(self) -> bytes:
        return self.html.encode("utf-8") if isinstance(self.html, str) else self.html


def page_record(writer: WARCWriter, page: Page):
    """The warcio record for one page (not yet written)."""
    warc_headers = {"WARC-Date": page.date}
    body = page.body
    if page.record_type != "response":
        return writer.create_warc_record(page.url, page.record_type, payload=io.BytesIO(body),
                                         length=len(body), warc_content_type=page.content_type,
                                         warc_headers_dict=warc_headers)
    headers = [("Content-Type", page.content_type)]
    if not any(k.lower() == "transfer-encoding" for k, _ in page.extra_headers):
        headers.append(("Content-Length", str(len(body))))
    headers.extend(page.extra_headers)
    http = StatusAndHeaders(f"{page.status} {_REASONS.get(page.status, 'Status')}", headers,
                            protocol="HTTP/1.1")
    return writer.create_warc_record(page.url, "response", payload=io.BytesIO(body), length=len(body),
                                     http_headers=http, warc_headers_dict=warc_headers)


def request_record(writer: WARCWriter, page: Page):
    """The GET request a crawler would have sent for `page`."""
    host = page.url.split("/")[2] if "://" in page.url else "localhost"
    http = StatusAndHeaders("GET / HTTP/1.1", [("Host", host), ("User-Agent", "apertura-test")],
                            is_http_request=True)
    return writer.create_warc_record(page.url, "request", http_headers=http,
                                     warc_headers_dict={"WARC-Date": page.date})


def write_warc(
    path: str | Path,
    pages: Sequence[Page],
    gzip: bool = True,
    with_requests: bool = True,
    with_warcinfo: bool = True,
    warc_version: str = "1.0",
) -> list[int]:
    """Write `pages` to `path` (one gzip member per record when `gzip`); return each page's record offset.

    With `with_warcinfo` the file starts with a warcinfo record; with `with_requests` each response
    is followed by its request record, as crawlers write them. warcio adds WARC-Payload-Digest.
    """
    offsets: list[int] = []
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=gzip, warc_version=warc_version)
        if with_warcinfo:
            writer.write_record(writer.create_warcinfo_record(Path(path).name, {"software": "apertura-tests"}))
        for page in pages:
            offsets.append(out.tell())
            writer.write_record(page_record(writer, page))
            if with_requests and page.record_type == "response":
                writer.write_record(request_record(writer, page))
    return offsets


def record_spans(path: str | Path) -> list[tuple[int, int, str]]:
    """(offset, length, WARC-Type) of every record, as warcio sees them: an independent oracle."""
    spans = []
    with open(path, "rb") as f:
        it = ArchiveIterator(f)
        for rec in it:
            rtype = rec.rec_type
            it.read_to_end()
            spans.append((it.get_record_offset(), it.get_record_length(), rtype))
    return spans


def make_pages(n: int, host: str = "site.test", size: int = 200) -> list[Page]:
    """`n` distinct HTML pages with roughly `size` bytes of body each."""
    pages = []
    for i in range(n):
        filler = " ".join(f"word{i}-{j}" for j in range(max(1, size // 12)))
        pages.append(Page(f"http://{host}/page/{i}", f"<html><body><p>Page {i}. {filler}</p></body></html>"))
    return pages
