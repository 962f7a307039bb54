"""Shared checks for the hardening tests: a time bound, a pipeline run, and what a release must satisfy."""

from __future__ import annotations

import bisect
import contextlib
import faulthandler
import hashlib
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

from pipeline.config import RunConfig
from tests.helpers.corrupt import ELIGIBLE, Variant, nightly_examples

CONFIG = RunConfig.model_validate({"extract": {"extractor": "resiliparse"}})
# hypothesis caches constants under <cwd>/.hypothesis even without a database: keep the repo clean
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "apertura-hypothesis")


class Hang(BaseException):
    """Raised by `deadline` when a block overruns its bound (a BaseException: `except Exception` can't hide it)."""


@contextlib.contextmanager
def deadline(seconds: float, what: str, *, cpu: bool = False) -> Iterator[None]:
    """Fail if the block takes longer than `seconds`.

    `cpu=True` bounds the CPU time of this thread instead (for single-threaded parsing): on a loaded machine
    the wall clock also counts waiting for a core, and flaked; a hang is still stopped at 4 x `seconds` of wall.

    SIGALRM interrupts Python code; the code under test may still swallow the interrupt (the readers
    turn any BaseException into a read error), so the flag decides, not the exception. A hang in C
    code that never returns to Python is caught by faulthandler, which dumps every thread and exits.
    """
    fired = []
    wall_bound = seconds * 4 if cpu else seconds

    def on_alarm(signum, frame):
        fired.append(time.monotonic())
        raise Hang(f"{what}: still running after {wall_bound} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, wall_bound)
    faulthandler.dump_traceback_later(max(60.0, seconds * 4), exit=True, file=sys.stderr)
    clock = time.thread_time if cpu else time.monotonic
    start = clock()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        faulthandler.cancel_dump_traceback_later()
    elapsed = clock() - start
    unit = "s of CPU" if cpu else "s"
    assert not fired and elapsed < seconds, f"{what}: took {elapsed:.1f} {unit} (bound {seconds} {unit})"


def fuzz_settings(default: int, **kwargs) -> settings:
    """Hypothesis settings: `default` examples (derandomized, so CI is repeatable), or
    APERTURA_FUZZ_EXAMPLES random ones in the nightly run. Deadlines are ours (`deadline`), not
    hypothesis's, because two shared cores make per-example timing noisy. Nightly runs use a fresh seed each
    time (print_blob shows how to replay a failure)."""
    nightly = nightly_examples()
    return settings(
        max_examples=nightly or default,
        derandomize=nightly is None,
        print_blob=True,
        deadline=None,
        database=None,  # no .hypothesis/ in the repo; a failure prints its example (and @reproduce_failure)
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
        **kwargs,
    )


def tree_digest(directory: Path) -> dict[str, str]:
    """sha256 of every file below `directory`, by relative path."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def run_build(paths: list[Path], out: Path, seconds: float = 30.0, config: RunConfig = CONFIG) -> dict:
    from pipeline.cli import build

    with deadline(seconds, f"build {[p.name for p in paths]}"):
        return build([str(p) for p in paths], config, out)


def rows(out: Path, table: str) -> pl.DataFrame:
    files = list((out / table).glob("*.parquet"))
    if not files:
        return pl.DataFrame()
    return duckdb.sql(f"select * from read_parquet('{out}/{table}/*.parquet')").pl()


def check_release(out: Path, manifest: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The release verifies, the conservation law holds per input, every ledger row has a reason."""
    from pipeline.verify import verify_release

    with deadline(30, f"verify {out.name}"):
        report = verify_release(out)
    assert report.ok, [c for c in report.checks if not c.ok]
    for entry in manifest["inputs"]:
        assert entry["eligible"] == entry["kept"] + entry["removed"], entry
        stop = entry["read_stopped"]
        if stop is not None:
            assert isinstance(stop["offset"], int) and 0 <= stop["offset"] <= entry["bytes"], stop
            assert stop["error"] and "\n" not in stop["error"], stop
    docs, ledger = rows(out, "documents"), rows(out, "ledger")
    if ledger.height:
        assert ledger["reason"].null_count() == 0 and (ledger["reason"].str.len_chars() > 0).all()
        assert ledger["stage"].null_count() == 0
    return docs, ledger


def covered(spans, offsets) -> list:
    """The spans with no row offset inside them (a row may name a record by an empty gzip member before it)."""
    ordered = sorted(offsets)
    return [s for s in spans if bisect.bisect_left(ordered, s.offset) == bisect.bisect_left(ordered, s.end)]


def check_accounted(
    variant: Variant,
    offsets: list[int],
    stop: dict | None,
    records_by_type: dict,
    ledger_reasons: list,
    holes: list[tuple[int, int]] = (),
) -> None:
    """Nothing lost: records wholly before the damage come out as rows; every other eligible record is a row or
    lies inside the span of a ledger row for damage (`holes`: an unreadable span, or a record cut short or
    unparsable, whose span may hold a record whose own start the damage destroyed), unless the damage changed
    its WARC-Type (then records_by_type shows a type the file did not have)."""
    if stop is not None:
        assert 0 <= stop["offset"] <= len(variant.data) and stop["error"], f"{variant.name}: {stop}"
    dupes = [o for o, n in Counter(offsets).items() if n > 1]
    assert not dupes, f"{variant.name}: one record offset in several rows {dupes}"
    lost = covered(variant.intact_before_damage(), offsets)
    assert not lost, f"{variant.name}: intact records {[s.offset for s in lost]} missing (read_stopped={stop})"
    missing = [s for s in covered([s for s in variant.records if s.eligible], offsets)
               if not any(a <= s.offset < b for a, b in holes)]  # fmt: skip
    if missing:
        expected = Counter(s.rtype for s in variant.records)
        retyped = any(t not in expected and t != "unreadable" for t in records_by_type)
        assert retyped, f"{variant.name}: records {[s.offset for s in missing]} are neither rows nor unreadable spans"


def check_variant(variant: Variant, entry: dict, docs: pl.DataFrame, ledger: pl.DataFrame) -> None:
    """`check_accounted` on one input's manifest entry and its rows of the release."""
    if docs.height:
        docs = docs.filter(pl.col("source_sha256") == entry["sha256"])
    if ledger.height:
        ledger = ledger.filter(pl.col("source_sha256") == entry["sha256"])
    records = ledger.filter(pl.col("record_type") != "unreadable") if ledger.height else ledger
    offsets = [o for frame in (docs, records) if frame.height for o in frame["warc_record_offset"].to_list()]
    reasons = ledger["reason"].to_list() if ledger.height else []
    holes = (
        [(o, o + n) for o, n in ledger.filter(pl.col("reason").is_in(["read_unparsable", "read_truncated"]))
         .select("warc_record_offset", "warc_record_length").iter_rows()]
        if ledger.height else []
    )  # fmt: skip
    check_accounted(variant, offsets, entry["read_stopped"], entry["records_by_type"], reasons, holes)


def build_variants(variants: list[Variant], directory: Path, out: Path, seconds: float = 60.0) -> dict:
    """One release from many variants (one input each, distinct bytes), every input checked; returns the manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    by_path, seen = {}, set()
    for v in variants:
        if v.data not in seen:
            seen.add(v.data)
            by_path[str(v.write(directory))] = v
    manifest = run_build([Path(p) for p in by_path], out, seconds=seconds)
    docs, ledger = check_release(out, manifest)
    assert len(manifest["inputs"]) == len(by_path)
    for entry in manifest["inputs"]:
        check_variant(by_path[entry["path"]], entry, docs, ledger)
    return manifest


def eligible_count(variant: Variant) -> int:
    return sum(1 for s in variant.records if s.rtype in ELIGIBLE)
