"""`registry.match`, the rule by which a rights holder's entry covers a record, on rows built to sit at its edges:
records without a URL identity (older releases, URLs the identity refuses), ports and IPv6 hosts, public suffixes,
the text threshold's boundary, and which entry answers when two cover a record. Expected rows come from the
construction (which rows were made to be covered), never from `match` itself."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline.optout.registry import TEXT_JACCARD, Entry, Registry, match
from pipeline.url_identity import url_key

LONG = "x" * 70_000  # a URL this long has no identity (url_key is None): only its spelling can be compared


def _entry(entry_id: str, kind: str, value: str, minhash: list[int] | None = None) -> Entry:
    return Entry(entry_id, kind, value, minhash, "Requester <r@example.org>", "", "2026-01-01T00:00:00.000000Z",
                 "2026-01-01T00:00:00.000000Z")  # fmt: skip


def _rows(*rows: tuple[str, str | None, str | None], url_keys: bool = False) -> pl.DataFrame:
    """(id, url, domain) rows, as an older release holds them: no `url_key` column (match computes it from the
    URL) unless `url_keys`, then the stored one."""
    frame = pl.DataFrame(
        {"id": [r[0] for r in rows], "url": [r[1] for r in rows], "domain": [r[2] for r in rows],
         "norm_sha256": [None] * len(rows), "minhash": [None] * len(rows)},
        schema={"id": pl.String, "url": pl.String, "domain": pl.String, "norm_sha256": pl.String,
                "minhash": pl.List(pl.UInt32)},
    )  # fmt: skip
    return frame.with_columns(url_key=pl.col("url").map_elements(url_key, pl.String)) if url_keys else frame


def _covered(frame: pl.DataFrame, *entries: Entry) -> list[str]:
    return match(frame, entries)["id"].to_list()


def test_nothing_to_match_is_an_empty_answer_with_the_answers_columns():
    """Callers join on `id` and read `entry_id`, `kind`, `rule`, whether or not anything matched."""
    frame = _rows(("a", "http://a.test/", "a.test"))
    for answer in (match(frame, []), match(frame.clear(), [_entry("e1", "domain", "a.test")])):
        assert answer.schema == pl.Schema({"id": pl.String, "entry_id": pl.String, "kind": pl.String,
                                           "rule": pl.String})  # fmt: skip
        assert answer.is_empty()


@pytest.mark.parametrize("entry", ["a.test", "a.test:8080", "http://a.test:8080/"])
def test_a_domain_entry_covers_a_record_without_identity_by_its_spelled_host(entry):
    """The release's `domain` column spells the host without a port; an entry with a port covers it too (never
    less), and an unrelated host is not covered."""
    frame = _rows(("in", f"http://a.test/{LONG}", "a.test"), ("sub", f"http://news.a.test/{LONG}", "news.a.test"),
                  ("out", f"http://b.test/{LONG}", "b.test"))  # fmt: skip
    assert frame.select(pl.col("url").map_elements(url_key, pl.String)).null_count().item() == 3
    assert _covered(frame, _entry("e1", "domain", entry)) == ["in", "sub"]


@pytest.mark.parametrize("entry", ["[::1]", "[::1]:8080"])
def test_a_domain_entry_for_an_ipv6_host_covers_its_spelled_records(entry):
    """An IPv6 host's colons are not a port: "[::1]:8080" is host "[::1]" on port 8080, "[::1]" has no port."""
    frame = _rows(("in", f"http://[::1]/{LONG}", "[::1]"), ("out", f"http://[::2]/{LONG}", "[::2]"))
    assert _covered(frame, _entry("e1", "domain", entry)) == ["in"]


def test_a_url_prefix_entry_covers_a_record_without_identity_by_its_spelled_url():
    prefix = "https://a.test/private/"
    frame = _rows(("in", prefix + LONG, None), ("out", "https://a.test/public/" + LONG, None),
                  ("no-url", None, None))  # fmt: skip
    assert _covered(frame, _entry("e1", "url_prefix", prefix)) == ["in"]


def test_a_domain_entry_on_a_public_suffix_is_honoured_as_written(tmp_path):
    """`apertura optout add` refuses a public suffix, but an entry already in a registry (written by hand, or
    before the rule) still covers what it names: a registry is read, and matched, as its owner wrote it."""
    from tests.test_registry_consent import _write_entry

    _write_entry(tmp_path / "registry", "suffix", value="github.io")
    (entry,) = Registry(tmp_path / "registry").effective()
    frame = _rows(("in", "https://someone.github.io/page", None), ("out", "https://github.com/page", None),
                  url_keys=True)  # fmt: skip
    assert _covered(frame, entry) == ["in"]


def _texts(agreeing: list[int], size: int) -> tuple[Entry, pl.DataFrame]:
    """A text entry with MinHash 0..size-1 and one row per number in `agreeing`, whose signature agrees with the
    entry's in exactly that many places (the others are values the entry does not have)."""
    entry = _entry("t1", "text", "ab" * 32, list(range(size)))
    signatures = [list(range(n)) + [10_000 + i for i in range(size - n)] for n in agreeing]
    frame = pl.DataFrame(
        {"id": [f"agree-{n}" for n in agreeing], "url": [f"http://t.test/{n}" for n in agreeing],
         "domain": ["t.test"] * len(agreeing), "norm_sha256": ["cd" * 32] * len(agreeing), "minhash": signatures},
        schema={"id": pl.String, "url": pl.String, "domain": pl.String, "norm_sha256": pl.String,
                "minhash": pl.List(pl.UInt32)},
    )  # fmt: skip
    return entry, frame


def test_a_text_whose_estimate_is_exactly_the_threshold_is_covered():
    """"at or above TEXT_JACCARD": 7 of 10 values agree is an estimate of exactly 0.7."""
    assert TEXT_JACCARD == 0.7  # the boundary the rows below sit on
    entry, frame = _texts([6, 7, 8], 10)
    assert _covered(frame, entry) == ["agree-7", "agree-8"]


def test_a_near_copy_names_its_estimate_to_two_places_and_its_entrys_kind():
    entry, frame = _texts([100], 120)  # 100 of 120: 0.8333…
    (row,) = match(frame, [entry]).iter_rows(named=True)
    rule = f"registry entry t1: text text sha256 {'ab' * 8}… (near copy, estimated Jaccard 0.83)"
    assert row == {"id": "agree-100", "entry_id": "t1", "kind": "text", "rule": rule}


def test_a_record_two_entries_cover_is_answered_once_by_the_first_in_registry_order():
    """One removal per record, credited to the first entry that covers it; the answer keeps the rows' order."""
    ids = [f"r{i:03}" for i in range(60)]
    frame = _rows(*[(i, f"http://a.test/{i}", "a.test") for i in ids])
    first, second = _entry("e-first", "url_prefix", "http://a.test/r00"), _entry("e-second", "domain", "a.test")
    answer = match(frame, [first, second])
    by_first = [i for i in ids if i.startswith("r00")]
    assert answer["id"].to_list() == by_first + [i for i in ids if i not in by_first]
    assert answer["entry_id"].to_list() == ["e-first"] * len(by_first) + ["e-second"] * (60 - len(by_first))
    assert set(answer["kind"]) == {"url_prefix", "domain"}
