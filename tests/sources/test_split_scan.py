"""The policy scan of one large WARC in pieces (one per worker) must give exactly the one-piece scan:
the same policy records, report and batch plan; where it cannot be vouched for, it is the one-piece scan."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pipeline.sources import policy_scan
from pipeline.sources.policy_scan import collect
from pipeline.sources.warc_plan import record_members
from tests.helpers.corrupt import base_warcs, warc_variants
from tests.helpers.warcs import Page, make_pages, write_warc

ROBOTS = "User-agent: GPTBot\nDisallow: /\n"


def site(n: int, redirect_at: int, target_at: int) -> list[Page]:
    """Pages with policy files spread through, and a robots.txt redirect whose target comes later."""
    pages = make_pages(n, host="split.test", size=400)
    for i in range(0, n, 37):
        pages[i] = Page(f"http://host{i}.test/robots.txt", ROBOTS, content_type="text/plain")
    pages[redirect_at] = Page(
        "http://moved.test/robots.txt", "", status=301, extra_headers=(("Location", "https://moved.test/robots"),)
    )
    pages[target_at] = Page("https://moved.test/robots", ROBOTS, content_type="text/plain")
    return pages


@pytest.fixture(autouse=True)
def split_everything(monkeypatch):
    monkeypatch.setattr(policy_scan, "SPLIT_BYTES", 0)


def assert_split_equals_whole(path: Path, pieces: int) -> None:
    whole = collect([str(path)], batch_size=7)
    split = collect([str(path)], batch_size=7, pieces=pieces)
    assert split[0].equals(whole[0])
    assert split[1] == whole[1]  # ScannedFile: sha256, bytes and the batch plan (with its report)


@pytest.mark.parametrize("pieces", [2, 3, 5])
@pytest.mark.parametrize(("redirect_at", "target_at"), [(10, 12), (10, 290)])
def test_pieces_give_the_whole_scan(tmp_path, pieces, redirect_at, target_at):
    """(10, 290): the redirect's target lies in a later piece, so the pieces are not trusted."""
    path = tmp_path / "big.warc.gz"
    write_warc(path, site(300, redirect_at, target_at))
    cuts = record_members(str(path), pieces, probe=1 << 16)
    assert len(cuts) == pieces - 1  # the file really is read in pieces
    whole = collect([str(path)])[0]
    assert "https://moved.test/robots" in whole["url"].to_list()
    assert_split_equals_whole(path, pieces)


def test_cuts_are_record_starts(tmp_path):
    path = tmp_path / "big.warc.gz"
    offsets = write_warc(path, site(200, 5, 6), with_requests=False)
    assert set(record_members(str(path), 4, probe=1 << 16)) <= set(offsets)


def test_damaged_files_scan_as_in_one_piece(tmp_path):
    rng = random.Random(5)
    gz = next(b for b in base_warcs(tmp_path, fixtures=False) if b.suffix == ".warc.gz")
    variants = list(warc_variants(gz, rng, flips=4, per_record=2))
    for k, variant in enumerate(rng.sample(variants, min(60, len(variants)))):
        path = tmp_path / f"v{k}.warc.gz"
        path.write_bytes(variant.data)
        assert_split_equals_whole(path, 3)
