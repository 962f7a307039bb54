"""Requests from the public (issue 17, item 5): the opt-out form is the app's only write, open to anyone.

* A flood from several browser sessions of one address (reloading the page makes a new session) files no more
  than the per-address share per hour; other addresses keep theirs; everybody together no more than the hourly
  limit (counted from the registry's files, so a restart does not reset it); a full queue takes nothing, with a
  message saying so.
* The pending queue stays fast: 5,000 requests took 3.7 s to list (one file opened per request); the queue now
  reads its segments, and the request files only for the newest requests.
* The public page shows nobody else's name or contact (a registry entry's requester, which a release's rule
  text carries) and no path of the server.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from audit_app import queries, registry
from pipeline.optout import registry as optout_registry
from pipeline.optout.registry import ENTRY_SCHEMA, Registry
from tests.app.test_pages import texts
from tests.app.test_rights_releases import REQUESTER, _check, _file, env, lineage_root  # noqa: F401 (fixtures)

REPO = Path(__file__).resolve().parents[2]
VIEWS = REPO / "audit_app" / "views"
SHARE = registry.MAX_REQUESTS_PER_ADDRESS_PER_HOUR


@pytest.fixture
def empty_root(tmp_path, monkeypatch) -> Path:
    """A data root holding no release yet: the request form works all the same."""
    monkeypatch.setenv(queries.DATA_ROOT_ENV, str(tmp_path))
    monkeypatch.delenv(registry.REGISTRY_ENV, raising=False)
    monkeypatch.delenv("APERTURA_RELEASE", raising=False)
    return tmp_path


def _page() -> AppTest:
    return AppTest.from_file(str(VIEWS / "rights_holder.py"), default_timeout=60).run()


def _outcome(at: AppTest) -> str:
    assert not at.exception, at.exception
    if at.success:
        return "filed"
    (error,) = [e.value for e in at.error]
    return error.replace("\\", "")  # as read: without the Markdown escapes


def _pending(root: Path) -> int:
    return Registry(root / "registry").pending().height


def test_a_flood_from_several_sessions_of_one_address_files_its_share_only(empty_root):
    """Three sessions (three page loads) file four requests each: the address's hourly share is filed, the rest
    refused with a message that says when to come back; the per-session count alone would have taken all 12."""
    sessions = [_page() for _ in range(3)]
    outcomes = [_outcome(_file(sessions[i % 3], "domain", f"flood{i}.example.org")) for i in range(12)]
    assert outcomes[:SHARE] == ["filed"] * SHARE
    assert all("requests an hour are taken from one address" in o and "minute" in o for o in outcomes[SHARE:])
    assert _pending(empty_root) == SHARE


def test_other_addresses_keep_their_share_and_ipv6_is_limited_per_64(empty_root):
    kinds = {"203.0.113.9": SHARE, "2001:db8:1:2::1": SHARE, "2001:db8:1:2::ffff": 0, "2001:db8:1:3::1": SHARE}
    for address, expected in kinds.items():
        filed = 0
        for i in range(SHARE + 2):
            try:
                registry.file_request("domain", f"{address.replace(':', '-')}-{i}.example.org", name="A",
                                      contact="a@example.org", root=empty_root, client=address)  # fmt: skip
                filed += 1
            except registry.RequestError as err:
                assert "from one address" in str(err)
        assert filed == expected, address  # the second address of a /64 shares the first one's share
    assert _pending(empty_root) == 3 * SHARE


def test_a_refused_write_gives_the_share_back(empty_root):
    for _ in range(SHARE + 2):
        with pytest.raises(registry.RequestError, match="fewer than 20 words"):
            registry.file_request("text", text="too short", name="A", contact="a@example.org", root=empty_root,
                                  client="198.51.100.7")  # fmt: skip
    registry.file_request("domain", "back.example.org", name="A", contact="a@example.org", root=empty_root,
                          client="198.51.100.7")  # fmt: skip


def test_the_window_slides(monkeypatch):
    clock = [1000.0]
    limiter = registry.AddressLimiter(2, window=60, clock=lambda: clock[0])
    assert limiter.reserve("192.0.2.1") is None and limiter.reserve("192.0.2.1") is None
    assert limiter.reserve("192.0.2.1") == pytest.approx(60)
    clock[0] += 30
    assert limiter.reserve("192.0.2.1") == pytest.approx(30) and limiter.reserve("192.0.2.2") is None
    clock[0] += 30.5
    assert limiter.reserve("192.0.2.1") is None
    assert len(limiter._seen) == 2  # addresses silent for a whole window are forgotten (bounded memory)


def test_everybody_together_files_at_most_the_hourly_limit(empty_root, monkeypatch):
    """Counted from the registry's own files: what the app's memory forgets (a restart) does not reset it."""
    monkeypatch.setattr(registry, "MAX_REQUESTS_PER_HOUR", 4)
    reg = Registry(empty_root / "registry")
    for i in range(4):
        reg.file_request("domain", f"earlier{i}.example.org", requester="Somebody <s@example.org>")
    at = _file(_page(), "domain", "one-more.example.org")
    assert "at most 4 requests an hour from everybody together" in _outcome(at)
    assert _pending(empty_root) == 4


def test_a_full_queue_takes_nothing_and_says_so(empty_root, monkeypatch):
    monkeypatch.setattr(registry, "MAX_PENDING", 3)
    outcomes = [_outcome(_file(_page(), "domain", f"queue{i}.example.org")) for i in range(4)]
    assert outcomes[:3] == ["filed"] * 3
    assert "the review queue is full (3 requests wait for review; the limit is 3)" in outcomes[3]
    assert _pending(empty_root) == 3


# ------------------------------------------------------------------------------------------ the pending queue


def _write_requests(directory: Path, n: int) -> None:
    """`n` request files as `Registry._append` writes them (one row each), fast: no fingerprinting."""
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        received = f"2026-12-05T10:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i:06d}Z"
        row = {"kind": "domain", "value": f"site{i}.example.org", "minhash": None, "requester": f"P{i} <p{i}@x.org>",
               "note": "", "received_at": received, "effective_from": received, "request_id": f"req-{i:012x}",
               "entry_id": None}  # fmt: skip
        name = f"{received.replace(':', '').replace('-', '')}-{row['request_id']}"
        pl.DataFrame([row], schema=ENTRY_SCHEMA).write_parquet(directory / f"{name}.parquet")


def test_five_thousand_pending_requests_list_in_well_under_a_second(tmp_path):
    reg = Registry(tmp_path / "registry")
    _write_requests(reg.path / "requests", 5_000)
    reg._fold()  # what filing the 5,000th request through the app would have done
    started = time.perf_counter()
    pending = reg.pending()
    seconds = time.perf_counter() - started
    assert pending.height == 5_000 and pending["request_id"].is_sorted() and seconds < 1.0, seconds
    assert reg.pending_count() == 5_000


def test_segments_hold_exactly_what_the_request_files_hold(tmp_path, monkeypatch):
    monkeypatch.setattr(optout_registry, "SEGMENT_ROWS", 50)
    reg = Registry(tmp_path / "registry")
    ids = [reg.file_request("domain", f"s{i}.example.org", requester=f"R{i} <r{i}@x.org>") for i in range(120)]
    segments = sorted((reg.path / "requests" / optout_registry.SEGMENTS).glob("*.parquet"))
    assert len(segments) == 2  # after the 50th and the 100th request
    files = sorted(p for p in (reg.path / "requests").glob("*.parquet"))
    reference = pl.read_parquet(files).sort("received_at", "request_id")  # each file read on its own
    assert reg.pending().equals(reference.select(ENTRY_SCHEMA.keys()))
    # a request file removed by hand is no request, even if a segment still holds it; a damaged segment is skipped
    os.remove(next(f for f in files if ids[3] in f.name))
    segments[0].write_bytes(b"not parquet")
    assert sorted(reg.pending()["request_id"]) == sorted(set(ids) - {ids[3]})
    entry = reg.approve(ids[7])
    assert entry.request_id == ids[7] and ids[7] not in reg.pending()["request_id"].to_list()
    assert reg.pending_count() == 118


# ------------------------------------------------------------------------------------------ what the page shows


def test_the_public_page_shows_no_requester_and_no_server_path(env):  # noqa: F811 (the fixture)
    """r2 removed the domain for a registry entry filed by Berg AG <legal@berg.test>: a visitor checking the domain
    sees that it was removed, by which entry and rule, but not who asked, and nowhere the server's data path."""
    at = _check(_page(), "domain", env["domain"])
    shown = texts(at) + "\n".join(df.value.to_csv() for df in at.dataframe)
    assert env["entry"] in shown  # the entry is named ...
    for secret in (*REQUESTER, str(env["root"]), str(env["registry"])):
        assert secret not in shown, secret  # ... not its requester, nor where the server keeps the data
    at = _file(at, "domain", "another.example.org")
    assert at.success and str(env["root"]) not in texts(at)
