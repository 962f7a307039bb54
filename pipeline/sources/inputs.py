"""Where inputs come from: expanding specs into files/URLs, naming their format, and reading one.

`read_input` is the one entry point the runner uses; it opens the input as a byte stream (`streams.py`: the
input's sha256 and size come out of the same single pass that parses it, a URL is streamed like a local file)
and dispatches to the WARC/WET reader (`warc.py`), the ARC reader (`arc.py`) or the Parquet/JSONL reader
(`tabular.py`).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl

from pipeline.config import ReadConfig
from pipeline.sources import arc, tabular, warc
from pipeline.sources.base import ReadReport
from pipeline.sources.streams import InputError, is_url, open_stream

# Longest suffix first: '.warc.wet.gz' must win over '.wet.gz' and '.warc.gz'.
_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".warc.wet.gz", "wet"),
    (".wet.gz", "wet"),
    (".wet", "wet"),
    (".warc.gz", "warc"),
    (".warc", "warc"),
    (".arc.gz", "arc"),
    (".arc", "arc"),
    (".parquet", "parquet"),
    (".jsonl.gz", "jsonl"),
    (".json.gz", "jsonl"),
    (".jsonl", "jsonl"),
)
_GLOB_CHARS = re.compile(r"[*?\[]")


def detect_format(spec: str) -> str:
    """The reader format ('warc', 'wet', 'arc', 'parquet', 'jsonl') named by the spec's file extension.

    For URLs only the path counts (a query string or fragment is ignored).
    """
    name = urlsplit(spec).path if is_url(spec) else spec
    lower = name.lower()
    for suffix, fmt in _SUFFIXES:
        if lower.endswith(suffix):
            return fmt
    known = ", ".join(s for s, _ in _SUFFIXES)
    raise InputError(f"{spec}: unknown input format (expected one of {known})")


def _has_known_suffix(path: str) -> bool:
    lower = path.lower()
    return any(lower.endswith(s) for s, _ in _SUFFIXES)


def _walk(directory: str) -> list[str]:
    """Files with a known extension below `directory`, recursively, in sorted order."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        found.extend(os.path.join(root, f) for f in files if _has_known_suffix(f))
    return sorted(found)


def expand_inputs(specs: list[str]) -> list[str]:
    """Turn globs, directories, paths and URLs into an ordered, de-duplicated list of input specs.

    Directories and glob matches contribute only files with a known extension (so a README next to
    the WARCs is not an error); a path named explicitly must exist and have a known extension.
    Order follows the specs; within a directory or glob, paths are sorted.
    """
    out: list[str] = []
    seen: set[str] = set()

    def add(spec: str, key: str) -> None:
        if key not in seen:
            seen.add(key)
            out.append(spec)

    for spec in specs:
        if is_url(spec):
            detect_format(spec)
            add(spec, spec)
            continue
        if _GLOB_CHARS.search(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            files: list[str] = []
            for m in matches:
                if os.path.isdir(m):
                    files.extend(_walk(m))
                elif _has_known_suffix(m):
                    files.append(m)
            if not files:
                raise InputError(f"{spec}: glob matched no input files")
            for f in files:
                add(f, os.path.realpath(f))
            continue
        if os.path.isdir(spec):
            files = _walk(spec)
            if not files:
                raise InputError(f"{spec}: directory contains no input files")
            for f in files:
                add(f, os.path.realpath(f))
            continue
        if not os.path.exists(spec):
            raise InputError(f"{spec}: no such file")
        detect_format(spec)
        add(spec, os.path.realpath(spec))
    return out


def read_input(
    spec: str, *, batch_size: int, read_config: ReadConfig
) -> tuple[Iterator[pl.DataFrame], ReadReport]:
    """Stream batches (exactly RECORD_SCHEMA, at most `batch_size` rows) of the eligible records of `spec`.

    The returned ReadReport fills in while the iterator runs; once it is exhausted it holds
    records_by_type (every record seen, eligible or not), sha256 and bytes of the whole input, for WARC/ARC
    inputs bytes_by_type (the spans of each type, unreadable spans included, sum to bytes), and
    read_stopped = {'offset', 'error'} if the input could not be read to the end. The iterator does
    not raise for corrupt, truncated or otherwise unreadable data: it ends and reports. InputError is
    raised here, before iterating, for a missing file, an unknown extension or a failing URL.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    fmt = detect_format(spec)
    report = ReadReport(path=spec, format=fmt)
    if fmt in ("warc", "wet", "arc"):
        stream = open_stream(spec)
        if fmt == "arc":
            return arc.read_arc(stream, report, batch_size=batch_size, read_config=read_config), report
        gzip_name = (urlsplit(spec).path if is_url(spec) else spec).lower().endswith(".gz")
        batches = warc.read_warc(stream, report, batch_size=batch_size, read_config=read_config, gzip_name=gzip_name)
        return batches, report
    if fmt == "parquet":
        if is_url(spec):
            raise InputError(f"{spec}: Parquet inputs must be local files")
        if not os.path.isfile(spec):
            raise InputError(f"{spec}: no such file")
        return tabular.read_parquet(Path(spec), report, batch_size=batch_size, read_config=read_config), report
    stream = open_stream(spec)
    return tabular.read_jsonl(stream, report, batch_size=batch_size, read_config=read_config), report
