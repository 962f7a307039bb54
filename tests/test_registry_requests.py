"""The registry's request queue on its own: a rights holder files a request (from the app), a data engineer approves it.

Found by mutation testing: no test of the registry target reached `file_request`, `approve`, `pending`, the segments
or the rate count. Ground truth by construction: the requests filed, the ids returned, the instants around them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from pipeline.optout import registry as reg
from pipeline.optout.registry import Registry, RegistryError


def test_a_filed_request_waits_until_approved_then_is_an_entry_naming_it(tmp_path):
    r = Registry(tmp_path)
    before = datetime.now(UTC) - timedelta(seconds=1)
    rid = r.file_request("domain", "WWW.Example.ORG", requester=" Ann, ann@x.test ", note=" paywalled ")
    other = r.file_request("url_prefix", "https://b.test/news/", requester="Bo")
    assert rid.startswith("req-") and len(rid) == 16 and rid != other
    assert r.pending_count() == 2 and r.received_since(before) == 2
    assert r.received_since(datetime.now(UTC) + timedelta(seconds=1)) == 0
    pending = r.pending()
    assert pending["request_id"].to_list() == [rid, other]  # oldest first
    assert pending.row(0, named=True) | {"received_at": None} == {
        "entry_id": None, "kind": "domain", "value": "example.org", "minhash": None, "requester": "Ann, ann@x.test",
        "note": "paywalled", "received_at": None, "effective_from": pending["received_at"][0], "request_id": rid,
    }  # fmt: skip
    assert r.entries().height == 0  # a request is no opt-out until approved

    entry = r.approve(rid, effective_from="2026-01-01T01:00:00+01:00")
    assert (entry.kind, entry.value, entry.requester, entry.note, entry.request_id) == (
        "domain", "example.org", "Ann, ann@x.test", "paywalled", rid)  # fmt: skip
    assert entry.effective_from == "2026-01-01T00:00:00.000000Z" and entry.entry_id.startswith("opt-")
    assert r.entries()["entry_id"].to_list() == [entry.entry_id]
    assert r.pending()["request_id"].to_list() == [other] and r.pending_count() == 1
    with pytest.raises(RegistryError, match="no pending request 'req-"):
        r.approve(rid)  # approved once
    with pytest.raises(RegistryError, match="no pending request 'req-nothing'"):
        r.approve("req-nothing")
    now = r.approve(other)
    assert now.effective_from == now.received_at  # no effective_from: from its approval
    assert r.pending().height == 0 and r.pending_count() == 0


def test_requests_are_folded_into_segments_and_read_the_same(tmp_path, monkeypatch):
    monkeypatch.setattr(reg, "SEGMENT_ROWS", 3)
    r = Registry(tmp_path)
    ids = [r.file_request("domain", f"site{i}.test", requester="Ann") for i in range(7)]
    segments = sorted((tmp_path / "requests" / reg.SEGMENTS).glob("*.parquet"))
    assert len(segments) == 2  # after the 3rd and the 6th request; the 7th is loose
    assert sorted(pl.read_parquet(segments).get_column("request_id").to_list()) == sorted(ids[:6])
    assert r.pending()["request_id"].to_list() == ids and r.pending_count() == 7
    assert r._loose().keys() == {ids[6]}
    segments[0].write_bytes(b"not parquet")  # a damaged segment: its requests come from their own files
    assert r.pending()["request_id"].to_list() == ids
    (tmp_path / "requests" / r._request_files()[ids[1]]).unlink()  # a request file removed by hand: no request
    assert r.pending()["request_id"].to_list() == [ids[0], *ids[2:]]



def test_the_queue_reads_the_segments_and_only_the_loose_request_files_in_one_read(tmp_path, monkeypatch):
    """What makes `pending()` fast at 100k requests (its docstring's promise): the rows of folded requests come
    from their segments, and the request files no segment holds are read in one batch, never one by one."""
    monkeypatch.setattr(reg, "SEGMENT_ROWS", 3)
    r = Registry(tmp_path)
    ids = [r.file_request("domain", f"site{i}.test", requester="Ann") for i in range(7)]
    batches: list[list[str]] = []
    one_by_one: list[Path] = []
    read_requests, read_file = reg._read_requests, reg._read_file
    monkeypatch.setattr(reg, "_read_requests", lambda paths, dedup: batches.append([p.name for p in paths])
                        or read_requests(paths, dedup))  # fmt: skip
    monkeypatch.setattr(reg, "_read_file", lambda path, *a: one_by_one.append(path) or read_file(path, *a))
    assert r.pending()["request_id"].to_list() == ids
    assert batches == [[r._request_files()[ids[6]]]] and one_by_one == []


def test_a_damaged_segment_leaves_the_other_segments_requests_folded(tmp_path, monkeypatch):
    """Only the damaged segment's requests are read from their own files again: the segments after it still hold
    theirs, so one more request does not fold them all again."""
    monkeypatch.setattr(reg, "SEGMENT_ROWS", 3)
    r = Registry(tmp_path)
    ids = [r.file_request("domain", f"site{i}.test", requester="Ann") for i in range(9)]
    segments = sorted((tmp_path / "requests" / reg.SEGMENTS).glob("*.parquet"))
    first = set(pl.read_parquet(segments[0])["request_id"])
    segments[0].write_bytes(b"not parquet")
    assert r._loose().keys() == first
    assert r.pending()["request_id"].to_list() == ids


def test_a_request_two_segments_hold_is_queued_once(tmp_path, monkeypatch):
    """Two app processes folding at once can each write a segment holding the same requests."""
    monkeypatch.setattr(reg, "SEGMENT_ROWS", 3)
    r = Registry(tmp_path)
    ids = [r.file_request("domain", f"site{i}.test", requester="Ann") for i in range(3)]
    (segment,) = (tmp_path / "requests" / reg.SEGMENTS).glob("*.parquet")
    segment.with_name("another.parquet").write_bytes(segment.read_bytes())
    assert r.pending()["request_id"].to_list() == ids and r.pending_count() == 3

def test_reading_an_empty_registry(tmp_path):
    r = Registry(tmp_path / "none")
    assert r.pending().height == 0 and r.pending_count() == 0 and r._request_files() == {}
    assert r.received_since(datetime(2000, 1, 1, tzinfo=UTC)) == 0
    state = r.state("2026-01-01T00:00:00Z")  # what a release built with an empty registry records
    assert (state["entries"], state["as_of"]) == (0, "2026-01-01T00:00:00Z")
    assert r.covering("url", "https://a.test/", at="2026-01-01T00:00:00Z") == []
    with pytest.raises(RegistryError, match=r"^as of 'yesterday' is not an ISO 8601 date-time"):
        r.entries("yesterday")


def test_the_state_depends_on_the_entries_not_on_their_files_names(tmp_path, monkeypatch):
    """A registry copied by a tool that renames files, or entries written by another program, is the same state:
    entries are ordered by receipt, then id (two received in one instant), whatever their files are called."""
    instants = iter(["2026-12-05T10:00:00.000000Z"] * 3 + ["2026-12-05T09:00:00.000000Z"] * 3)
    monkeypatch.setattr(reg, "now_utc", lambda: next(instants))
    r = Registry(tmp_path / "a")
    for domain in ("a.test", "b.test", "c.test", "d.test", "e.test", "f.test"):
        r.add("domain", domain, requester="Ann")
    files = sorted((tmp_path / "a" / "entries").glob("*.parquet"))
    (tmp_path / "b" / "entries").mkdir(parents=True)
    for i, file in enumerate(reversed(files)):  # names in the opposite order of receipt and id
        (tmp_path / "b" / "entries" / f"{i}.parquet").write_bytes(file.read_bytes())
    ordered = pl.read_parquet(files)  # `<received>-<id>.parquet`: the file names order them by receipt, then id
    assert ordered["received_at"].is_sorted() and ordered["received_at"].n_unique() == 2
    copy = Registry(tmp_path / "b")
    assert copy.entries().equals(ordered) and r.entries().equals(ordered)
    assert copy.state()["sha256"] == r.state()["sha256"]


def test_a_rule_of_an_older_release_is_shown_without_the_requester():
    old = "registry entry opt-1: domain a.test (requested by Ann, ann@x.test)"
    assert reg.without_requester(old) == "registry entry opt-1: domain a.test"
    assert reg.without_requester("registry entry opt-1: domain a.test") == "registry entry opt-1: domain a.test"
    assert reg.without_requester("robots: x (requested by y)") == "robots: x (requested by y)"
    assert reg.without_requester(None) is None


def test_an_entry_as_a_dict_has_no_minhash(tmp_path):
    entry = Registry(tmp_path).add("domain", "a.test", requester="Ann")
    assert reg.entry_dict(entry) == {
        "entry_id": entry.entry_id, "kind": "domain", "value": "a.test", "requester": "Ann", "note": "",
        "received_at": entry.received_at, "effective_from": entry.received_at, "request_id": None,
    }  # fmt: skip
    assert entry.describe() == f"registry entry {entry.entry_id}: domain a.test"



def test_entries_received_in_the_same_instant_are_all_stored(tmp_path, monkeypatch):
    """A bulk import on a coarse clock: each entry's file is named by its own id, so none refuses another."""
    monkeypatch.setattr(reg, "now_utc", lambda: "2026-12-05T10:00:00.000000Z")
    r = Registry(tmp_path)
    added = [r.add("domain", d, requester="Ann") for d in ("a.test", "b.test", "c.test")]
    assert sorted(r.entries()["value"]) == ["a.test", "b.test", "c.test"]
    assert {p.stem.rsplit("-", 1)[-1] for p in (tmp_path / "entries").glob("*.parquet")} == {
        e.entry_id.removeprefix("opt-") for e in added}
    for file in (tmp_path / "entries").glob("*.parquet"):  # any Parquet reader sees the documented types
        assert pl.read_parquet_schema(file) == reg.ENTRY_SCHEMA
    with pytest.raises(RegistryError, match=r"\.parquet exists: the registry never overwrites$"):
        r.add("domain", "a.test", requester="Ann")  # the same row again: the same id, the same file

TEXT = " ".join(f"word{i}" for i in range(40))



def test_a_text_entry_is_named_by_the_start_of_its_hash_never_its_text(tmp_path):
    entry = Registry(tmp_path).add("text", requester="Ann", text=TEXT)
    assert entry.describe() == f"registry entry {entry.entry_id}: text text sha256 {entry.value[:16]}…"
    assert "word1" not in entry.describe() and entry.value not in entry.describe()


def test_a_request_is_checked_at_the_door_each_limit_inclusive_with_one_line_saying_what(tmp_path):
    """The app files what a stranger typed: each field's limit holds exactly, and the refusal names the field."""
    r = Registry(tmp_path)

    def refused(message: str, *args, **kwargs) -> None:
        with pytest.raises(RegistryError) as err:
            r.file_request(*args, **kwargs)
        assert str(err.value) == message

    refused("kind must be one of domain, url_prefix, text", "page", "a.test", requester="Ann")
    for field, limit in (("requester", reg.MAX_FIELD_CHARS["requester"]), ("note", reg.MAX_FIELD_CHARS["note"])):
        fields = {"requester": "Ann", field: "x" * limit}
        r.file_request("domain", "a.test", **fields)  # at the limit: accepted
        longer = fields | {field: "x" * (limit + 1)}
        refused(f"{field} is longer than {limit} characters", "domain", "a.test", **longer)
        refused(f"{field} contains control characters", "domain", "a.test", **(fields | {field: "Ann\x1b[2J"}))
    refused("a requester (name and contact) is required", "domain", "a.test", requester=" \t ")
    limit = reg.MAX_FIELD_CHARS["value"]
    page = "https://a.test/" + "p" * (limit - len("https://a.test/"))
    r.file_request("url_prefix", page, requester="Ann")
    refused(f"value is longer than {limit} characters", "url_prefix", page + "p", requester="Ann")
    words = " ".join(f"w{i:05d}" for i in range(reg.MAX_TEXT_BYTES // 7))  # 7 bytes a word with its space
    text = words + "x" * (reg.MAX_TEXT_BYTES - len(words.encode()))
    r.file_request("text", requester="Ann", text=text)  # exactly MAX_TEXT_BYTES: accepted
    refused(f"the text is larger than {reg.MAX_TEXT_BYTES:,} bytes", "text", requester="Ann", text=text + "x")
    assert r.pending_count() == 4

def test_requests_hold_what_was_filed_and_nothing_else(tmp_path):
    r = Registry(tmp_path)
    with pytest.raises(RegistryError, match="the domain is empty"):
        r.file_request("domain", requester="Ann")  # no value: refused, never stored as some default
    rid = r.file_request("text", requester="Ann", text=TEXT)
    row = r.pending().row(0, named=True)
    assert (row["request_id"], row["kind"], row["note"]) == (rid, "text", "")
    assert len(row["value"]) == 64 and len(row["minhash"]) == r.dedup.bands * r.dedup.rows_per_band


def test_files_that_are_not_requests_are_not_counted(tmp_path):
    """Only `<received>-<id>.parquet` files are requests: not a stray note, nor macOS's `._` copies of requests."""
    r = Registry(tmp_path)
    rid = r.file_request("domain", "a.test", requester="Ann")
    name = r._request_files()[rid]
    (tmp_path / "requests" / "read-me.txt").write_text("notes")
    (tmp_path / "requests" / f"._{name}").write_bytes(b"\x00\x05\x16\x07")
    # a hidden copy named like another request: it must not count whatever order the directory lists files in
    (tmp_path / "requests" / f"._{name.replace(rid, 'req-000000000000')}").write_bytes(b"\x00\x05\x16\x07")
    assert r._request_files() == {rid: name} and r.pending_count() == 1
    assert r.pending()["request_id"].to_list() == [rid]


def test_approval_gives_each_entry_its_own_id_and_names_a_bad_instant(tmp_path):
    r = Registry(tmp_path)
    first, second = (r.file_request("domain", d, requester="Ann") for d in ("a.test", "b.test"))
    with pytest.raises(RegistryError, match=r"^effective_from 'tomorrow' is not an ISO 8601 date-time"):
        r.approve(first, effective_from="tomorrow")
    with pytest.raises(RegistryError, match=r"^effective_from 'tomorrow' is not an ISO 8601 date-time"):
        r.add("domain", "c.test", requester="Bo", effective_from="tomorrow")
    with pytest.raises(RegistryError, match="the domain is empty"):
        r.add("domain", requester="Bo")  # no value: refused, never stored as some default
    ids = [r.approve(first).entry_id, r.approve(second).entry_id, r.add("domain", "c.test", requester="Bo").entry_id]
    assert len(set(ids)) == 3 and all(i.startswith("opt-") and len(i) == len("opt-") + 12 for i in ids)
    assert r.entries().height == 3


def test_the_request_count_does_not_depend_on_the_machines_time_zone(tmp_path, monkeypatch):
    import time

    r = Registry(tmp_path)
    since = datetime.now(UTC) - timedelta(minutes=1)
    r.file_request("domain", "a.test", requester="Ann")
    for zone in ("Asia/Tokyo", "America/Los_Angeles"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        try:
            assert r.received_since(since) == 1
            assert r.received_since(since.astimezone(timezone(timedelta(hours=5)))) == 1
            assert r.received_since(datetime.now(UTC) + timedelta(minutes=1)) == 0
        finally:
            monkeypatch.delenv("TZ")
            time.tzset()



@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/Los_Angeles"])
def test_instants_are_stored_in_utc_whatever_the_machines_zone(tmp_path, monkeypatch, zone):
    """An instant stored with 'Z' must be UTC: a local time written with 'Z' is hours off on most machines."""
    import time

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        before = datetime.now(UTC)
        entry = Registry(tmp_path).add("domain", "a.test", requester="Ann", effective_from="2026-01-01T09:00:00+09:00")
        after = datetime.now(UTC)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert before <= datetime.strptime(entry.received_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) <= after
    assert entry.effective_from == "2026-01-01T00:00:00.000000Z"

def test_a_requester_named_like_the_old_rule_text_is_cut_at_the_first_mention():
    old = "registry entry opt-1: domain a.test (requested by Ann (requested by Bo))"
    assert reg.without_requester(old) == "registry entry opt-1: domain a.test"


@pytest.mark.parametrize("received", ["20260101T000000.000000Z", "29991231T000000.000000Z"], ids=["first", "last"])
def test_a_broken_request_file_makes_the_queue_unreadable_with_one_line_naming_it(tmp_path, received):
    """Read one by one after the batch read fails, the good files before the broken one are checked as well."""
    r = Registry(tmp_path)
    r.file_request("domain", "a.test", requester="Ann")
    broken = tmp_path / "requests" / f"{received}-req-broken.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(RegistryError, match=f"^registry file {broken}: unreadable"):
        r.pending()


def test_covering_answers_for_a_page_a_domain_and_a_text(tmp_path):
    """What `optout check` and the app ask: the entries in force that cover a subject, with the rule."""
    r = Registry(tmp_path)
    domain = r.add("domain", "a.test", requester="Ann")
    prefix = r.add("url_prefix", "https://b.test/news/", requester="Bo")
    text = r.add("text", requester="Cy", text=TEXT)
    assert r.covering("url", "HTTP://Sub.A.test/x") == [(domain, domain.describe())]
    assert r.covering("url", "b.test/news/today") == [(prefix, prefix.describe())]
    assert r.covering("url", "https://b.test/other") == []
    assert r.covering("domain", "www.a.test") == [(domain, domain.describe())]
    assert r.covering("domain", "b.test") == []  # a prefix of part of the site does not cover its home page
    assert r.covering("text", TEXT) == [(text, f"{text.describe()} (exact copy)")]
    with pytest.raises(RegistryError, match=r"^kind must be one of domain, url, text, not 'page'$"):
        r.covering("page", "a.test")
    with pytest.raises(RegistryError, match=r"^the domain is empty"):
        r.covering("domain", " ")


def test_validate_reads_the_requests_too(tmp_path):
    r = Registry(tmp_path)
    r.add("domain", "a.test", requester="Ann")
    r.validate()
    broken = tmp_path / "requests" / "20260101T000000.000000Z-req-broken.parquet"
    broken.parent.mkdir()
    broken.write_bytes(b"not parquet")
    with pytest.raises(RegistryError, match=f"^registry file {broken}: unreadable"):
        r.validate()


def test_the_state_hash_is_the_sha256_of_the_entries_canonical_json(tmp_path):
    """What a release records and `verify` recomputes: sha256 of the entries (as stored) in canonical JSON."""
    import hashlib
    import json

    r = Registry(tmp_path)
    before = reg.now_utc()
    a = r.add("domain", "a.test", requester="Ann")
    b = r.add("url_prefix", "https://b.test/x/", requester="Bo", note="n")
    rows = pl.read_parquet(sorted((tmp_path / "entries").glob("*.parquet"))).sort("received_at", "entry_id")
    canonical = json.dumps(rows.to_dicts(), sort_keys=True, separators=(",", ":"))
    assert r.state() == {"path": str(tmp_path), "sha256": hashlib.sha256(canonical.encode()).hexdigest(),
                         "entries": 2, "as_of": b.received_at}  # fmt: skip
    assert r.state(a.received_at)["entries"] == 1 and r.state(before)["entries"] == 0
    assert r.state(before)["sha256"] == hashlib.sha256(b"[]").hexdigest()


def test_a_text_needs_twenty_words_and_near_copies_are_covered(tmp_path):
    r = Registry(tmp_path)
    with pytest.raises(RegistryError, match=r"^the text has fewer than 20 words: too short to fingerprint reliably$"):
        r.add("text", requester="Ann", text=" ".join(["w"] * 19))
    r.add("text", requester="Ann", text=" ".join(f"w{i}" for i in range(20)))  # twenty are enough
    entry = r.add("text", requester="Ann", text=TEXT)
    near = TEXT.replace("word20", "changed")
    ((hit, rule),) = r.covering("text", near)
    assert hit == entry and rule.startswith(f"{entry.describe()} (near copy, estimated Jaccard 0.")
    assert r.covering("text", " ".join(f"other{i}" for i in range(40))) == []


def test_a_bad_domain_or_prefix_is_refused_with_url_identitys_line(tmp_path):
    r = Registry(tmp_path)
    with pytest.raises(RegistryError, match=r"^co\.uk is a public suffix, not a site"):
        r.add("domain", "co.uk", requester="Ann")
    with pytest.raises(RegistryError, match=r"^not a URL prefix \(it must start with http:// or https://"):
        r.add("url_prefix", "ftp://a.test/", requester="Ann")


def test_requests_filed_in_the_same_instant_are_queued_by_id_wherever_they_are_stored(tmp_path, monkeypatch):
    """Protects the queue's tie rule (received_at, then request_id): two requests stamped with the same instant
    come out in id order whether a request is read from a segment or from its own file, so the approval queue
    does not reshuffle when requests are folded. Found by mutation testing (pending's tie key dropped survived)."""
    monkeypatch.setattr(reg, "SEGMENT_ROWS", 2)
    monkeypatch.setattr(reg, "now_utc", lambda: "2026-12-05T10:00:00.000000Z")  # one instant for every request
    r = Registry(tmp_path)
    ids = [r.file_request("domain", f"site{i}.test", requester="Ann") for i in range(3)]
    # the first two are folded into a segment, the third is loose; storage order is then held, then loose
    assert r._loose().keys() == {ids[2]}
    assert ids[2] < max(ids[:2]), "construction: the loose request must sort before a folded one"
    assert r.pending()["request_id"].to_list() == sorted(ids)
    assert set(r.pending()["received_at"].to_list()) == {"2026-12-05T10:00:00.000000Z"}


def test_covering_answers_for_the_instant_asked(tmp_path):
    """`covering(..., at)` judges by the entries in force at `at`, not now: an entry effective from 2030 does not
    cover a page asked about in 2029, and does in 2031 (mutation testing: `at` ignored survived)."""
    r = Registry(tmp_path)
    entry = r.add("domain", "a.test", requester="Ann", effective_from="2030-01-01T00:00:00Z")
    assert r.covering("url", "https://a.test/x", at="2029-06-01T00:00:00Z") == []
    assert r.covering("url", "https://a.test/x", at="2031-06-01T00:00:00Z") == [(entry, entry.describe())]
    assert r.covering("url", "https://a.test/x", at="2030-01-01T01:00:00+01:00") == [(entry, entry.describe())]
    with pytest.raises(RegistryError, match=r"^the time 'soon' is not an ISO 8601 date-time"):
        r.covering("url", "https://a.test/x", at="soon")


def test_an_entry_backdated_when_received_is_not_in_force_before_its_receipt(tmp_path):
    """An entry received today with effective_from in 2020 holds from today for what was built before: a release
    of 2025 could not have applied it."""
    r = Registry(tmp_path)
    entry = r.add("domain", "a.test", requester="Ann", effective_from="2020-01-01T00:00:00Z")
    assert r.covering("url", "https://a.test/x", at="2025-01-01T00:00:00Z") == []
    assert r.covering("url", "https://a.test/x") == [(entry, entry.describe())]


def test_near_copies_are_judged_row_by_row(tmp_path):
    """Each document's estimated Jaccard is its own: among many rows only the near copy is covered (mutation
    testing: a mean over the whole matrix instead of per row survived; the app asks about one row at a time)."""
    cfg = Registry(tmp_path).dedup
    entry = Registry(tmp_path).add("text", requester="Ann", text=TEXT)
    texts = {"near": TEXT.replace("word20", "changed"), "far1": " ".join(f"other{i}" for i in range(40)),
             "far2": " ".join(f"more{i}" for i in range(40))}  # fmt: skip
    rows = [{"id": k, "url": None, "domain": None, "norm_sha256": reg.fingerprint(t, cfg)[0],
             "minhash": reg.fingerprint(t, cfg)[1]} for k, t in texts.items()]  # fmt: skip
    schema = {"id": pl.String, "url": pl.String, "domain": pl.String, "norm_sha256": pl.String,
              "minhash": pl.List(pl.UInt32)}  # fmt: skip
    hits = reg.match(pl.DataFrame(rows, schema=schema), [entry])
    assert hits["id"].to_list() == ["near"] and hits["entry_id"].to_list() == [entry.entry_id]


def test_an_unreadable_files_reason_is_the_readers_first_line_cut_at_200_characters(tmp_path):
    """A directory named like a registry file (a partitioned copy dropped into entries/): Polars' first line names
    the whole path, longer than the 200 characters the one-line error keeps."""
    r = Registry(tmp_path)
    r.add("domain", "a.test", requester="Ann")
    odd = tmp_path / "entries" / f"{'x' * 200}.parquet"
    odd.mkdir()
    with pytest.raises(Exception) as by_polars:  # the reference: what the reader itself says
        pl.read_parquet(odd)
    first_line = str(by_polars.value).splitlines()[0]
    assert len(first_line) > 200
    with pytest.raises(RegistryError) as err:
        r.entries()
    assert str(err.value) == f"registry file {odd}: unreadable ({first_line[:200]})"
