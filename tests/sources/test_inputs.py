"""expand_inputs / detect_format / read_input's up-front errors, on real files in tmp_path."""

from __future__ import annotations

import os

import pytest

from pipeline.config import ReadConfig
from pipeline.sources.base import FORMATS, normalise_date
from pipeline.sources.inputs import InputError, detect_format, expand_inputs, read_input


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.warc", "warc"),
        ("a.warc.gz", "warc"),
        ("CC-MAIN-1.warc.wet.gz", "wet"),
        ("a.wet", "wet"),
        ("a.wet.gz", "wet"),
        ("a.arc", "arc"),
        ("a.ARC.GZ", "arc"),
        ("docs.parquet", "parquet"),
        ("docs.jsonl", "jsonl"),
        ("docs.jsonl.gz", "jsonl"),
        ("docs.json.gz", "jsonl"),
        ("https://data.example/crawl/x.warc.gz?sig=abc#frag", "warc"),
    ],
)
def test_detect_format(name: str, fmt: str) -> None:
    assert detect_format(name) == fmt
    assert fmt in FORMATS


@pytest.mark.parametrize("name", ["a.txt", "a.gz", "a.json", "a.warc.bz2", "http://x.test/page"])
def test_detect_format_unknown(name: str) -> None:
    with pytest.raises(InputError, match="unknown input format"):
        detect_format(name)


def _touch(path, data: bytes = b"") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def test_expand_directories_globs_paths_urls(tmp_path) -> None:
    a = _touch(tmp_path / "crawl" / "b.warc.gz")
    b = _touch(tmp_path / "crawl" / "a.warc.gz")
    c = _touch(tmp_path / "crawl" / "sub" / "c.wet.gz")
    _touch(tmp_path / "crawl" / "README.md")
    d = _touch(tmp_path / "docs" / "x.parquet")
    e = _touch(tmp_path / "docs" / "y.jsonl")
    url = "http://127.0.0.1:9/remote.warc.gz"

    got = expand_inputs([str(tmp_path / "crawl"), str(tmp_path / "docs" / "*"), url, a, e])
    # directory: recursive, sorted, README skipped; glob: sorted; duplicates (a, e) dropped
    assert got == [b, a, c, d, e, url]


def test_expand_recursive_glob_and_dedup_of_equivalent_paths(tmp_path) -> None:
    a = _touch(tmp_path / "x" / "1.warc")
    b = _touch(tmp_path / "x" / "y" / "2.warc")
    got = expand_inputs([str(tmp_path / "**" / "*.warc"), str(tmp_path / "x" / ".." / "x" / "1.warc")])
    assert got == [a, b]


def test_expand_errors(tmp_path) -> None:
    _touch(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no such file"):
        expand_inputs([str(tmp_path / "missing.warc.gz")])
    with pytest.raises(InputError, match="glob matched no input files"):
        expand_inputs([str(tmp_path / "*.warc.gz")])
    with pytest.raises(InputError, match="glob matched no input files"):
        expand_inputs([str(tmp_path / "*.txt")])
    with pytest.raises(InputError, match="unknown input format"):
        expand_inputs([str(tmp_path / "notes.txt")])
    with pytest.raises(InputError, match="no input files"):
        expand_inputs([str(tmp_path / "empty")])
    with pytest.raises(InputError, match="unknown input format"):
        expand_inputs(["https://example.test/page.html"])
    assert issubclass(InputError, ValueError)


def test_error_messages_are_one_line(tmp_path) -> None:
    with pytest.raises(InputError) as info:
        expand_inputs([str(tmp_path / "missing.warc")])
    assert "\n" not in str(info.value)
    assert str(tmp_path / "missing.warc") in str(info.value)


@pytest.mark.parametrize("name", ["gone.warc.gz", "gone.arc", "gone.parquet", "gone.jsonl"])
def test_read_input_missing_file(tmp_path, name: str) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_input(str(tmp_path / name), batch_size=10, read_config=ReadConfig())


def test_read_input_unknown_extension(tmp_path) -> None:
    path = _touch(tmp_path / "a.txt", b"hello")
    with pytest.raises(InputError):
        read_input(path, batch_size=10, read_config=ReadConfig())


def test_read_input_directory_is_an_input_error(tmp_path) -> None:
    d = tmp_path / "looks.warc"
    d.mkdir()
    with pytest.raises(InputError):
        read_input(str(d), batch_size=10, read_config=ReadConfig())


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without permission")
def test_read_input_unreadable_file(tmp_path) -> None:
    path = _touch(tmp_path / "secret.warc", b"WARC/1.0\r\n")
    os.chmod(path, 0)
    with pytest.raises(InputError, match="cannot open"):
        read_input(path, batch_size=10, read_config=ReadConfig())


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("2017-03-06T04:02:06Z", "2017-03-06T04:02:06Z"),
        ("2017-03-06T04:02:06.123456Z", "2017-03-06T04:02:06Z"),
        ("2017-03-06T06:02:06+02:00", "2017-03-06T04:02:06Z"),
        ("2017-03-06", "2017-03-06T00:00:00Z"),
        ("20140216050221", "2014-02-16T05:02:21Z"),
        ("not a date", None),
        (None, None),
    ],
)
def test_normalise_date(raw, want) -> None:
    assert normalise_date(raw) == want
