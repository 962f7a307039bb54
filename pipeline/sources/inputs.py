"""Where inputs come from: expanding specs into files/URLs, naming their format, and reading one.

`read_input` is the one entry point the runner uses; it opens the input as a byte stream (`streams.py`: the
input's sha256 and size come out of the same single pass that parses it, a URL is streamed like a local file)
and dispatches to the WARC/WET reader (`warc.py`), the ARC reader (`arc.py`) or the Parquet/JSONL reader
(`tabular.py`).
"""

from __future__ import annotations

import glob
import gzip
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

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
_log = logging.getLogger("apertura.inputs")  # records go where pipeline.logs (or the caller) sends them

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


PEEK_BYTES = 1 << 20  # how much of a JSONL file's first line is read to see whether it is documents


def not_documents(path: str) -> str | None:
    """Why a Parquet/JSONL file found in a directory or by a glob is not documents, or None when it may be.

    Documents have a `text` column (Parquet) or a first record with a `text` field (JSONL), as the tabular
    reader requires; a file of other JSON lines beside the data (expected results, a URL list, metadata) is
    not documents, and reading it would fill the ledger with `read_no_text` rows. WARC/WET/ARC files, empty
    files, files that cannot be opened or decompressed here, and a first line too long to look at are taken: the
    reader then accounts for them record by record, as it does for a file named explicitly."""
    fmt = detect_format(path)
    try:
        if fmt == "parquet":
            names = pq.read_schema(path).names
            return None if "text" in names else f"its columns ({', '.join(names[:6])}) have no text column"
        if fmt != "jsonl":
            return None
        with (gzip.open if path.lower().endswith(".gz") else open)(path, "rb") as f:
            line = f.readline(PEEK_BYTES)
            while line and not line.strip():
                line = f.readline(PEEK_BYTES)
    except (OSError, EOFError, pa.ArrowException):  # damaged: the reader accounts for what it can read
        return None
    if not line.strip() or (len(line) == PEEK_BYTES and not line.endswith(b"\n")):
        return None
    try:
        first = json.loads(line)
    except ValueError:
        return "its first line is not JSON"
    return None if isinstance(first, dict) and "text" in first else "its first line is not a record with a text field"


def _documents(files: list[str]) -> list[str]:
    """`files` without the ones that are not documents; each one left out is named in a warning."""
    kept = []
    for path in files:
        why = not_documents(path)
        if why is None:
            kept.append(path)
        else:
            _log.warning(f"{path}: not read as input: {why} (name the file explicitly to read it)",
                         extra={"fields": {"event": "input_skipped", "path": path, "reason": why}})
    return kept


def expand_inputs(specs: list[str]) -> list[str]:
    """Turn globs, directories, paths and URLs into an ordered, de-duplicated list of input specs.

    Directories and glob matches contribute only files with a known extension (so a README next to
    the WARCs is not an error), and of Parquet/JSONL files only those that hold documents (`not_documents`:
    a warning names each file left out); a path named explicitly must exist and have a known extension.
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
            files = _documents(files)
            if not files:
                raise InputError(f"{spec}: glob matched no input files")
            for f in files:
                add(f, os.path.realpath(f))
            continue
        if os.path.isdir(spec):
            files = _documents(_walk(spec))
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
