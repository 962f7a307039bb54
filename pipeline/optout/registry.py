"""The rights-holder registry: an append-only, timestamped log of opt-outs by domain, URL prefix or text.

Stored as a directory of one-row Parquet files, one per event, written under a temporary name and
renamed, never edited: `entries/` (approved opt-outs) and `requests/` (filed from the audit app,
pending until a data engineer approves one, which appends an entry naming the request).

The registry's state at a time T is the entries received at or before T; its hash is the sha256 of
that state's canonical JSON, so a release can record the exact state it applied and `verify` can
recompute it from the same files. A text opt-out stores only fingerprints of the text (the
normalised-text sha256 and a MinHash signature), never the text: near-copies match by estimated
Jaccard, exact copies by hash.

Values are checked at the door: a domain or URL prefix is stored in the one form `pipeline.url_identity`
gives it (and matched by that module's coverage rules, on the URL's identity, never its spelling);
`effective_from` is an ISO 8601 instant with a time zone, or `now`, stored as UTC; instants are compared as
instants. A registry file that does not hold what an entry must (a column, a known kind, a value, a whole
MinHash, a readable instant) makes the registry unreadable, with one line naming the file.

Slightly over 500 lines, one concern: the registry's files, their checks at the door and at reading, and how
its entries match records; the matching reads the entries in their stored forms (normalised domains and
prefixes, text fingerprints), so it stays beside them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from pipeline import url_identity
from pipeline.config import DedupConfig
from pipeline.fingerprints import add_dedup_keys
from pipeline.text_identity import as_released

Kind = Literal["domain", "url_prefix", "text"]
KINDS: tuple[str, ...] = ("domain", "url_prefix", "text")
REASON = "optout_registry"  # ledger reason of a record an entry covers
TEXT_JACCARD = 0.7  # estimated Jaccard at or above which a document counts as a copy of an opted-out text
MIN_TEXT_WORDS = 20  # shorter texts cannot be fingerprinted reliably
MAX_TEXT_BYTES = 200_000
MAX_FIELD_CHARS = {"value": 2_048, "requester": 300, "note": 4_000}
SEGMENTS = ".segments"  # under requests/: immutable Parquet files, each holding the rows of SEGMENT_ROWS requests
SEGMENT_ROWS = 500  # request files folded into a new segment once this many are in none (see `Registry._fold`)
ID_COLUMNS = {"entries": "entry_id", "requests": "request_id"}  # what names a row of each folder
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

ENTRY_SCHEMA: dict[str, pl.DataType] = {
    "entry_id": pl.String(),
    "kind": pl.String(),
    "value": pl.String(),  # the domain, the URL prefix, or the text's normalised sha256
    "minhash": pl.List(pl.UInt32()),  # text opt-outs only
    "requester": pl.String(),
    "note": pl.String(),
    "received_at": pl.String(),  # ISO 8601 UTC
    "effective_from": pl.String(),
    "request_id": pl.String(),  # the pending request an approved entry came from
}


class RegistryError(ValueError):
    """A bad opt-out request or an unreadable registry; the message says which."""


INSTANT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # how every instant is stored: UTC, microseconds, so text order is time order


def now_utc() -> str:
    return datetime.now(UTC).strftime(INSTANT_FORMAT)


def parse_instant(value: str, what: str = "the time") -> datetime:
    """An ISO 8601 date-time with a time zone ('2026-12-05T10:00:00Z', '2026-12-05T11:00+01:00') as an aware
    UTC datetime. A time without a zone is refused: it would mean a different instant on every machine."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise RegistryError(f"{what} {value!r} is not an ISO 8601 date-time (e.g. 2026-12-05T10:00:00Z)") from None
    if parsed.tzinfo is None:
        raise RegistryError(f"{what} {value!r} has no time zone: add Z for UTC or an offset such as +01:00")
    return parsed.astimezone(UTC)


def instant(value: str, what: str = "the time") -> str:
    """`value` ('now' or ISO 8601 with a zone) in the stored form: UTC, `INSTANT_FORMAT`."""
    if value.strip().lower() == "now":
        return now_utc()
    return parse_instant(value, what).strftime(INSTANT_FORMAT)


def normalise_domain(value: str) -> str:
    """A domain entry as stored (see `pipeline.url_identity.normalise_domain`); RegistryError if it is none."""
    try:
        return url_identity.normalise_domain(value)
    except url_identity.BadUrl as err:
        raise RegistryError(str(err)) from None


def normalise_prefix(value: str) -> str:
    """A URL-prefix entry as stored (see `pipeline.url_identity.normalise_prefix`); RegistryError if it is none."""
    try:
        return url_identity.normalise_prefix(value)
    except url_identity.BadUrl as err:
        raise RegistryError(str(err)) from None


def fingerprint(text: str, cfg: DedupConfig) -> tuple[str, list[int]]:
    """(normalised-text sha256, MinHash signature) with the same scheme as the pipeline's dedup, of the text as
    a release holds its copies (`as_released`: personal data replaced by the pii step's placeholders, with its
    default switches), so a rights holder's original matches the redacted documents."""
    if len(text.split()) < MIN_TEXT_WORDS:
        raise RegistryError(f"the text has fewer than {MIN_TEXT_WORDS} words: too short to fingerprint reliably")
    keyed = add_dedup_keys(pl.DataFrame({"text": [as_released(text)]}), cfg)
    return keyed["norm_sha256"][0], keyed["minhash"][0].to_list()


@dataclass(frozen=True)
class Entry:
    entry_id: str
    kind: str
    value: str
    minhash: list[int] | None
    requester: str
    note: str
    received_at: str
    effective_from: str
    request_id: str | None = None

    def describe(self) -> str:
        """The rule text a release stores (ledger detail, evidence): the entry and what it names, never who asked
        (a release is published; the requester's name and contact stay in the registry)."""
        shown = self.value if self.kind != "text" else f"text sha256 {self.value[:16]}…"
        return f"registry entry {self.entry_id}: {self.kind} {shown}"


REQUESTED_BY = " (requested by "  # how releases before 2026-12-05 named the requester in a rule


def without_requester(rule: str | None) -> str | None:
    """A registry rule as an older release stored it, without the requester's name and contact: what may be
    shown to somebody who is not that requester."""
    if rule and rule.startswith("registry entry ") and REQUESTED_BY in rule:
        return rule[: rule.index(REQUESTED_BY)]
    return rule


class Registry:
    """A registry directory. Reading never writes; writing only adds files."""

    def __init__(self, path: Path, dedup: DedupConfig | None = None) -> None:
        self.path = Path(path)
        self.dedup = dedup or DedupConfig()

    # ---- writing (append only)
    def _append(self, folder: str, row: dict) -> None:
        directory = self.path / folder
        directory.mkdir(parents=True, exist_ok=True)
        name = f"{row['received_at'].replace(':', '').replace('-', '')}-{row.get('entry_id') or row['request_id']}"
        final = directory / f"{name}.parquet"
        if final.exists():
            raise RegistryError(f"{final} exists: the registry never overwrites")
        tmp = directory / f".{name}.tmp"
        pl.DataFrame([row], schema=ENTRY_SCHEMA).write_parquet(tmp)
        os.replace(tmp, final)

    def _new_row(self, kind: str, value: str, requester: str, note: str, effective_from: str | None, text: str | None):
        if kind not in KINDS:
            raise RegistryError(f"kind must be one of {', '.join(KINDS)}")
        for name, field_value in (("value", value), ("requester", requester), ("note", note)):
            if len(field_value) > MAX_FIELD_CHARS[name]:
                raise RegistryError(f"{name} is longer than {MAX_FIELD_CHARS[name]} characters")
            if _CONTROL.search(field_value):
                raise RegistryError(f"{name} contains control characters")
        if text is not None and len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
            raise RegistryError(f"the text is larger than {MAX_TEXT_BYTES:,} bytes")
        if not requester.strip():
            raise RegistryError("a requester (name and contact) is required")
        minhash = None
        if kind == "domain":
            value = normalise_domain(value)
        elif kind == "url_prefix":
            value = normalise_prefix(value)
        else:
            value, minhash = fingerprint(text or "", self.dedup)
        received = now_utc()
        return {
            "kind": kind,
            "value": value,
            "minhash": minhash,
            "requester": requester.strip(),
            "note": note.strip(),
            "received_at": received,
            "effective_from": instant(effective_from, "effective_from") if effective_from else received,
        }

    def add(
        self,
        kind: str,
        value: str = "",
        *,
        requester: str,
        note: str = "",
        effective_from: str | None = None,
        text: str | None = None,
        request_id: str | None = None,
    ) -> Entry:
        """Append an approved opt-out; `text` for kind 'text' (only its fingerprints are stored)."""
        row = self._new_row(kind, value, requester, note, effective_from, text)
        row["entry_id"] = "opt-" + hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()[:12]
        row["request_id"] = request_id
        self._append("entries", row)
        return Entry(**row)

    def file_request(
        self, kind: str, value: str = "", *, requester: str, note: str = "", text: str | None = None
    ) -> str:
        """A rights holder's request (from the app): pending until approved. Returns the request id."""
        row = self._new_row(kind, value, requester, note, None, text)
        row["request_id"] = "req-" + hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()[:12]
        row["entry_id"] = None
        self._append("requests", row)
        self._fold()
        return row["request_id"]

    def _fold(self) -> None:
        """Once SEGMENT_ROWS request files are in no segment, write one more segment holding their rows (a new
        file, temp name then rename): reading the queue then opens a few hundred files at 100k requests, not
        100k. The request files stay the record; a segment only saves opening them."""
        loose = self._loose()
        if len(loose) < SEGMENT_ROWS:
            return
        rows = _read_requests(sorted(loose.values()), self.dedup)
        directory = self.path / "requests" / SEGMENTS
        directory.mkdir(exist_ok=True)
        name = hashlib.sha256("\n".join(sorted(loose)).encode()).hexdigest()[:16]
        tmp = directory / f".{name}.tmp"
        rows.write_parquet(tmp)
        os.replace(tmp, directory / f"{name}.parquet")

    def _request_files(self) -> dict[str, str]:
        """request id -> its file's name, from the names alone (`_append` names them `<received>-<id>.parquet`)."""
        directory = self.path / "requests"
        if not directory.is_dir():
            return {}
        with os.scandir(directory) as entries:
            names = [e.name for e in entries if e.name.endswith(".parquet") and not e.name.startswith(".")]
        return {name[: -len(".parquet")].partition("-")[2]: name for name in names if "-" in name}

    def _segments(self, columns: list[str] | None = None) -> pl.DataFrame:
        """The rows the segments hold (each request once). A segment that cannot be read is skipped: the request
        files are the record, so its requests are then read from their own files."""
        schema = {c: t for c, t in ENTRY_SCHEMA.items() if columns is None or c in columns}
        directory = self.path / "requests" / SEGMENTS
        frames = [pl.DataFrame(schema=schema)]
        for file in sorted(directory.glob("*.parquet")) if directory.is_dir() else []:
            try:
                frames.append(pl.read_parquet(file, columns=list(schema)).cast(schema))  # type: ignore[arg-type]
            except Exception:  # damaged or foreign: its requests come from their own files
                continue
        return pl.concat(frames).unique("request_id", keep="first", maintain_order=True)

    def _loose(self) -> dict[str, Path]:
        """Request files that no segment holds yet."""
        files = self._request_files()
        held = set(self._segments(["request_id"])["request_id"].to_list())
        return {rid: self.path / "requests" / name for rid, name in files.items() if rid not in held}

    def approve(self, request_id: str, effective_from: str | None = None) -> Entry:
        name = self._request_files().get(request_id)
        approved = set(self._read("entries")["request_id"].drop_nulls().to_list())
        if name is None or request_id in approved:
            raise RegistryError(f"no pending request {request_id!r}")
        r = _read_file(self.path / "requests" / name, "request_id", self.dedup).row(0, named=True)  # its own file
        row = {k: r[k] for k in ("kind", "value", "minhash", "requester", "note")}
        row |= {"received_at": now_utc(), "request_id": request_id}
        row["effective_from"] = instant(effective_from, "effective_from") if effective_from else row["received_at"]
        row["entry_id"] = "opt-" + hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()[:12]
        self._append("entries", row)
        return Entry(**row)

    # ---- reading
    def _read(self, folder: str) -> pl.DataFrame:
        directory = self.path / folder
        files = sorted(directory.glob("*.parquet")) if directory.is_dir() else []
        frames = [_read_file(f, ID_COLUMNS[folder], self.dedup) for f in files]
        if not frames:
            return pl.DataFrame(schema=ENTRY_SCHEMA)
        return pl.concat(frames).sort("received_at", "entry_id")

    def validate(self) -> None:
        """Raise RegistryError (one line naming the file) unless every file holds a whole entry or request."""
        self._read("entries")
        self._read("requests")

    def entries(self, as_of: str | None = None) -> pl.DataFrame:
        frame = self._read("entries")
        if as_of is None:
            return frame
        cut = parse_instant(as_of, "as of")
        return frame.filter(pl.Series([_received(r) <= cut for r in frame.iter_rows(named=True)], dtype=pl.Boolean))

    def pending(self) -> pl.DataFrame:
        """Requests not approved yet, oldest first. Fast at 100k requests: rows come from the segments (a few
        hundred files) and only the newest request files are opened (at most SEGMENT_ROWS of them)."""
        files = self._request_files()
        segments = self._segments()
        held = segments.filter(pl.col("request_id").is_in(list(files)))  # a file removed by hand is no request
        in_segments = set(held["request_id"].to_list())
        loose = sorted(self.path / "requests" / name for rid, name in files.items() if rid not in in_segments)
        requests = pl.concat([held, _read_requests(loose, self.dedup)]).sort("received_at", "request_id")
        approved = self._read("entries")["request_id"].drop_nulls()
        return requests.filter(~pl.col("request_id").is_in(approved.implode()))

    def pending_count(self) -> int:
        """How many requests wait for approval, from the file names alone (no request file is opened)."""
        approved = set(self._read("entries")["request_id"].drop_nulls().to_list())
        return sum(1 for rid in self._request_files() if rid not in approved)

    def received_since(self, since: datetime) -> int:
        """Requests filed at or after `since`, from their file names (`<received>-<id>.parquet`): what a rate limit
        over everybody's requests counts, across restarts and app processes."""
        cut = since.astimezone(UTC).strftime(INSTANT_FORMAT).replace(":", "").replace("-", "")
        return sum(1 for name in self._request_files().values() if name >= cut)

    def state(self, as_of: str | None = None) -> dict:
        """{'sha256', 'entries', 'as_of'}: what a release records about the registry it applied."""
        frame = self.entries(as_of)
        canonical = json.dumps(frame.to_dicts(), sort_keys=True, separators=(",", ":"))
        latest = frame["received_at"].max() if frame.height else None
        return {
            "path": str(self.path),
            "sha256": hashlib.sha256(canonical.encode()).hexdigest(),
            "entries": frame.height,
            "as_of": as_of or latest,
        }

    def covering(self, kind: str, value: str, at: str | None = None) -> list[tuple[Entry, str]]:
        """The entries in force at `at` (default now) that cover a subject, with the rule that matched: kind
        'domain' (asked as its home page: domain entries and URL prefixes of the whole host cover it), 'url' (a
        page, whatever its spelling) or 'text' (exact or near copy). What `optout check` and the app ask."""
        if kind == "text":
            norm, signature = fingerprint(value, self.dedup)
            row = {"url": None, "domain": None, "norm_sha256": norm, "minhash": signature}
        elif kind in ("domain", "url"):
            try:
                page = url_identity.user_url(value if kind == "url" else url_identity.normalise_domain(value))
            except url_identity.BadUrl as err:
                raise RegistryError(str(err)) from None
            row = {"url": page, "domain": url_identity.domain_of(page), "norm_sha256": None, "minhash": None}
        else:
            raise RegistryError(f"kind must be one of domain, url, text, not {kind!r}")
        schema = {"id": pl.String, "url": pl.String, "domain": pl.String, "norm_sha256": pl.String,
                  "minhash": pl.List(pl.UInt32)}  # fmt: skip
        entries = self.effective(at)
        hits = match(pl.DataFrame([{"id": "query", **row}], schema=schema), entries)
        by_id = {e.entry_id: e for e in entries}
        return [(by_id[i], rule) for i, rule in hits.select("entry_id", "rule").iter_rows()]

    def effective(self, at: str | None = None) -> list[Entry]:
        """Entries in force at `at` (default: now): received and effective at or before it, as instants."""
        at = at or now_utc()
        cut = parse_instant(at, "the time")
        rows = self.entries(at).iter_rows(named=True)
        return [Entry(**r) for r in rows if _effective(r) <= cut]


def _received(row: dict) -> datetime:
    return parse_instant(row["received_at"], "received_at")


def _effective(row: dict) -> datetime:
    """When an entry takes effect. 'now', stored as text by releases before 2026-12, meant its receipt."""
    value = row["effective_from"]
    return _received(row) if value.strip().lower() == "now" else parse_instant(value, "effective_from")


def _read_requests(paths: list[Path], dedup: DedupConfig) -> pl.DataFrame:
    """Several request files, checked as `_read_file` checks one: read together (one call for hundreds of files),
    or one by one when that fails, so the error names the file."""
    if not paths:
        return pl.DataFrame(schema=ENTRY_SCHEMA)
    try:
        frame = pl.read_parquet(paths).select(ENTRY_SCHEMA.keys()).cast(ENTRY_SCHEMA)
        return _checked(frame, "request_id", dedup, RegistryError)
    except Exception:  # read them one by one: the error then names the file
        return pl.concat([_read_file(p, "request_id", dedup) for p in paths])


def _read_file(path: Path, id_column: str, dedup: DedupConfig) -> pl.DataFrame:
    """One registry file, checked: RegistryError naming the file unless it holds whole entries (or requests)."""

    def bad(problem: str) -> RegistryError:
        return RegistryError(f"registry file {path}: {problem}")

    try:
        frame = pl.read_parquet(path)
    except Exception as err:  # not Parquet, truncated, unreadable: the registry cannot be trusted
        raise bad(f"unreadable ({str(err).splitlines()[0][:200]})") from None
    if missing := [c for c in ENTRY_SCHEMA if c not in frame.columns]:
        raise bad(f"missing column(s) {', '.join(missing)}")
    try:
        frame = frame.select(ENTRY_SCHEMA.keys()).cast(ENTRY_SCHEMA)
    except pl.exceptions.PolarsError:
        raise bad("a column has the wrong type") from None
    return _checked(frame, id_column, dedup, bad)


def _checked(frame: pl.DataFrame, id_column: str, dedup: DedupConfig, bad) -> pl.DataFrame:
    """`frame` (ENTRY_SCHEMA) if every row holds a whole entry (or request), else `bad(problem)` is raised."""
    num_perm = dedup.bands * dedup.rows_per_band
    for row in frame.iter_rows(named=True):
        if not row[id_column]:
            raise bad(f"a row without {id_column}")
        if row["kind"] not in KINDS:
            raise bad(f"unknown kind {row['kind']!r} (known: {', '.join(KINDS)})")
        if not row["value"]:
            raise bad(f"{row[id_column]}: no value")
        if row["kind"] == "text" and len(row["minhash"] or ()) != num_perm:
            raise bad(f"{row[id_column]}: the text's MinHash has {len(row['minhash'] or ())} values, not {num_perm}")
        try:
            if row["kind"] == "domain":
                url_identity.normalise_domain(row["value"], public_suffix_ok=True)
            elif row["kind"] == "url_prefix":
                url_identity.normalise_prefix(row["value"])
            _received(row)
            _effective(row)
        except (url_identity.BadUrl, RegistryError) as err:
            raise bad(f"{row[id_column]}: {err}") from None
    return frame


def _jaccard(signatures: np.ndarray, entry: np.ndarray) -> np.ndarray:
    return (signatures == entry[None, :]).mean(axis=1)


def match(frame: pl.DataFrame, entries: Iterable[Entry]) -> pl.DataFrame:
    """Which rows of `frame` (id, url, domain, norm_sha256, minhash; `url_key` if already computed) each
    entry covers.

    Returns (id, entry_id, kind, rule): the first matching entry per row, in registry order. Domain and
    URL-prefix entries are compared on the URL's identity (`pipeline.url_identity`: scheme, case, port,
    encoding and trailing-dot variants are one URL); a row whose URL has no identity falls back to its
    spelling (the `domain` column, the URL's text), so it is never covered by less. Text entries match an
    equal normalised hash, or an estimated Jaccard >= TEXT_JACCARD.
    """
    out: list[pl.DataFrame] = []
    entries = list(entries)
    if not entries or frame.is_empty():
        return pl.DataFrame(schema={"id": pl.String, "entry_id": pl.String, "kind": pl.String, "rule": pl.String})
    if "url_key" not in frame.columns:
        frame = frame.with_columns(url_key=url_identity.url_key_expr(pl.col("url")))
    key, no_key = pl.col("url_key"), pl.col("url_key").is_null()
    sigs = None
    for e in entries:
        if e.kind == "domain":
            domain = url_identity.normalise_domain(e.value, public_suffix_ok=True)
            host = domain.rsplit(":", 1)[0] if not domain.endswith("]") else domain
            spelled = (pl.col("domain") == host) | pl.col("domain").str.ends_with("." + host)
            hit = url_identity.domain_covered_expr(key, domain) | (no_key & spelled.fill_null(False))
            rows = frame.filter(hit).select("id", rule=pl.lit(e.describe()))
        elif e.kind == "url_prefix":
            spelled = pl.col("url").str.starts_with(e.value).fill_null(False)
            hit = url_identity.prefix_covered_expr(key, e.value) | (no_key & spelled)
            rows = frame.filter(hit).select("id", rule=pl.lit(e.describe()))
        else:
            if sigs is None:
                has = frame["minhash"].is_not_null().to_numpy()
                sigs = np.zeros((frame.height, len(e.minhash)), dtype=np.uint32)
                if has.any():
                    sigs[has] = frame["minhash"].filter(pl.Series(has)).explode().to_numpy().reshape(-1, sigs.shape[1])
            estimate = np.where(has, _jaccard(sigs, np.array(e.minhash, dtype=np.uint32)), 0.0)
            exact = (frame["norm_sha256"] == e.value).fill_null(False).to_numpy()
            hit = exact | (estimate >= TEXT_JACCARD)
            rows = frame.filter(pl.Series(hit)).select(
                "id",
                rule=pl.format(
                    "{} ({})",
                    pl.lit(e.describe()),
                    pl.when(pl.col("norm_sha256") == e.value)
                    .then(pl.lit("exact copy"))
                    .otherwise(pl.format("near copy, estimated Jaccard {}", pl.Series(estimate[hit]).round(2))),
                ),
            )
        out.append(rows.with_columns(entry_id=pl.lit(e.entry_id), kind=pl.lit(e.kind)))
    return pl.concat(out).unique("id", keep="first", maintain_order=True).select("id", "entry_id", "kind", "rule")


def entry_dict(entry: Entry) -> dict:
    data = asdict(entry)
    data.pop("minhash")
    return data


def removal_rows(hits: pl.DataFrame, registry_path: Path) -> list[dict]:
    """One removal per matched record: the ledger reason and detail, and what its evidence row says."""
    return [
        {
            "id": doc_id,
            "reason": REASON,
            "signal": "registry",
            "rule": rule,
            "agents": None,
            "raw": entry_id,
            "raw_sha256": None,
            "fetched_at": None,
            "source_file": str(registry_path),
            "source_id": entry_id,
        }
        for doc_id, entry_id, rule in hits.select("id", "entry_id", "rule").iter_rows()
    ]
