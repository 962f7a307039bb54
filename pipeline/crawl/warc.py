"""WARC 1.1 output of the crawler: gzip-per-record files, rolled by size, never half-written under their name.

Layout of one file (`<prefix>-NNNNN.warc.gz`, NNNNN from 00000):

* `warcinfo` first: software, format, user agent, operator contact, the crawl config JSON and its hash.
* Per HTTP exchange a `request` record (the request line and headers as sent) and a `response`
  record (status line and headers as received, minus `Transfer-Encoding: chunked` because the stored
  body is de-chunked; `Content-Encoding` kept with the still-encoded body, so they agree), linked both
  ways by `WARC-Concurrent-To`, with `WARC-IP-Address` and warcio's block/payload digests. The exchanges of a
  robots.txt / tdmrep.json / ai.txt fetch, each redirect hop included, carry `Apertura-Site-File: <its URL>`:
  the pipeline keeps them as evidence and never makes a document of one, wherever the file redirected to.
* `metadata` records (`Content-Type: application/json`, one object with `event` and `detail`) for
  what the request/response pairs do not say by themselves. `event` is one of: `robots_outcome` (per
  origin: how robots.txt was read, mode, status, final URL after redirects, sha256, delay in force),
  `origin_not_crawled` (robots.txt 5xx/unreachable), `robots_disallowed` (a URL not requested, with
  the rule), `content_type_skipped` (request sent, body not downloaded; the response status line and
  headers are in the record, which takes the place of the response record: same record id that the
  request's `WARC-Concurrent-To` names), `fetch_error` (no response after all attempts, with the
  errors), `redirect_limit`, `redirect_out_of_scope`, `redirect_not_followed` (a site file's redirect
  leaving its origin or allowed paths; a page's redirect to a URL already fetched or queued), `bad_redirect`,
  `limit_reached` (max_pages / max_bytes; no target URI).

A file is written as `<name>.open` and renamed when closed (after flush + fsync), so a file with a
final name is always complete.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

from warcio.recordbuilder import RecordBuilder
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

from pipeline.optout.families import after_robots
from pipeline.sources.base import SITE_FILE_HEADER
from pipeline.version import __version__

OPEN_SUFFIX = ".open"
_BUILDER = RecordBuilder(warc_version="1.1")


def record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def warc_date(when: datetime) -> str:
    """'YYYY-MM-DDThh:mm:ss.ffffffZ' (WARC 1.1 allows sub-second precision); `when` is UTC."""
    return datetime_to_iso_date(when.astimezone(UTC).replace(tzinfo=None), use_micros=True)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Exchange:
    """One HTTP request and its response, as sent and received (body still content-encoded)."""

    url: str
    started: datetime
    request_line: str  # 'GET /path?q HTTP/1.1'
    request_headers: list[tuple[str, str]]
    http_version: str = "HTTP/1.1"
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    ip: str | None = None
    truncated: str | None = None  # WARC-Truncated reason: 'length' | 'time' | 'disconnect'
    body_skipped: bool = False  # content type not wanted: body not downloaded
    site_file: str | None = None  # the robots.txt / tdmrep.json / ai.txt URL this exchange was fetched for

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    @property
    def content_type(self) -> str | None:
        value = self.header("content-type")
        return value.split(";", 1)[0].strip().lower() if value else None


def stored_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Response headers as stored: without the `chunked` transfer coding (httpx has de-chunked the body)."""
    out = []
    for k, v in headers:
        if k.lower() == "transfer-encoding":
            rest = [c.strip() for c in v.split(",") if c.strip() and c.strip().lower() != "chunked"]
            if not rest:
                continue
            v = ", ".join(rest)
        out.append((k, v))
    return out


def exchange_records(ex: Exchange) -> list[Any]:
    """`request` + `response` records (or `request` + a metadata record when the body was skipped)."""
    req_id, resp_id = record_id(), record_id()
    date = warc_date(ex.started)
    common = {"WARC-Date": date}
    if ex.ip:
        common["WARC-IP-Address"] = ex.ip
    if ex.site_file:  # evidence, never a document, whatever URL a redirect led to (pipeline/sources/base.py)
        common[SITE_FILE_HEADER] = ex.site_file
    request = _BUILDER.create_warc_record(
        ex.url,
        "request",
        payload=BytesIO(b""),
        length=0,
        warc_headers_dict={"WARC-Record-ID": req_id, "WARC-Concurrent-To": resp_id, **common},
        http_headers=StatusAndHeaders(ex.request_line, ex.request_headers, is_http_request=True),
    )
    status_line = f"{ex.status} {ex.reason}".rstrip()
    if ex.body_skipped:
        meta = metadata_record(
            ex.url,
            {
                "event": "content_type_skipped",
                "detail": f"content type {ex.content_type or 'missing'} not in content_types: body not downloaded",
                "status_line": f"{ex.http_version} {status_line}",
                "headers": [[k, v] for k, v in ex.headers],
            },
            concurrent_to=req_id,
            date=ex.started,
            record_id_=resp_id,
        )
        return [request, meta]
    warc_headers = {"WARC-Record-ID": resp_id, "WARC-Concurrent-To": req_id, **common}
    if ex.truncated:
        warc_headers["WARC-Truncated"] = ex.truncated
    response = _BUILDER.create_warc_record(
        ex.url,
        "response",
        payload=BytesIO(ex.body),
        length=len(ex.body),
        warc_headers_dict=warc_headers,
        http_headers=StatusAndHeaders(status_line, stored_headers(ex.headers), protocol=ex.http_version),
    )
    return [request, response]


def metadata_record(
    url: str,
    info: dict[str, Any],
    *,
    concurrent_to: str | None = None,
    date: datetime | None = None,
    record_id_: str | None = None,
) -> Any:
    """A `metadata` record whose block is one JSON object (`event`, `detail`, ...) about `url`."""
    body = json.dumps(info, ensure_ascii=False, sort_keys=True).encode("utf-8")
    headers = {"WARC-Record-ID": record_id_ or record_id(), "WARC-Date": warc_date(date or now())}
    if concurrent_to:
        headers["WARC-Concurrent-To"] = concurrent_to
    return _BUILDER.create_warc_record(
        url,
        "metadata",
        payload=BytesIO(body),
        length=len(body),
        warc_content_type="application/json",
        warc_headers_dict=headers,
    )


def warcinfo_fields(config_json: str, config_hash: str, user_agent: str, contact: str, what: str) -> dict[str, str]:
    """The `warcinfo` block (application/warc-fields); every value is one line."""
    files = ["robots.txt", *after_robots()]  # the declared site files (pipeline.optout.families)
    stored = " and ".join([", ".join(files[:-1]), files[-1]] if len(files) > 1 else files)
    return {
        "software": f"Apertura {__version__} (pipeline.crawl; warcio)",
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        "description": what,
        "robots": f"classic (RFC 9309); {stored} stored per origin",
        "http-header-user-agent": user_agent,
        "operator": contact,
        "crawl-config": config_json,
        "crawl-config-hash": config_hash,
    }


class WarcFiles:
    """Numbered gzip WARC files in `out`, rolled past `max_bytes`; `on_close(name)` runs after each rename."""

    def __init__(
        self,
        out: Path,
        prefix: str,
        max_bytes: int,
        info: dict[str, str],
        start_index: int = 0,
        on_close: Callable[[str], None] | None = None,
    ) -> None:
        self.out = out
        self.prefix = prefix
        self.max_bytes = max_bytes
        self.info = info
        self.index = start_index
        self.on_close = on_close
        self.closed: list[str] = []
        self._file: BinaryIO | None = None
        self._writer: WARCWriter | None = None
        self._name = ""

    def name(self, index: int) -> str:
        return f"{self.prefix}-{index:05d}.warc.gz"

    @property
    def is_open(self) -> bool:
        return self._file is not None

    def _open(self) -> None:
        self._name = self.name(self.index)
        self._file = open(self.out / (self._name + OPEN_SUFFIX), "wb")  # noqa: SIM115 (closed in close())
        self._writer = WARCWriter(self._file, gzip=True, warc_version="1.1")
        self._writer.write_record(self._writer.create_warcinfo_record(self._name, self.info))

    def write(self, records: list[Any]) -> None:
        """Write records together into the current file (opened on demand), then roll if it is full."""
        if not records:
            return
        if self._writer is None:
            self._open()
        assert self._writer is not None and self._file is not None
        for rec in records:
            self._writer.write_record(rec)
        if self._file.tell() >= self.max_bytes:
            self.close()

    def close(self) -> None:
        """Finish the current file: flush, fsync, rename to its final name, then `on_close`."""
        if self._file is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.out / (self._name + OPEN_SUFFIX), self.out / self._name)
        self._file = self._writer = None
        self.closed.append(self._name)
        self.index += 1
        if self.on_close is not None:
            self.on_close(self._name)
