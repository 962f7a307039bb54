"""The rights-holder registry: an append-only, timestamped log of opt-outs by domain, URL prefix or text.

Stored as a directory of one-row Parquet files, one per event, written under a temporary name and
renamed, never edited: `entries/` (approved opt-outs) and `requests/` (filed from the audit app,
pending until a data engineer approves one, which appends an entry naming the request).

The registry's state at a time T is the entries received at or before T; its hash is the sha256 of
that state's canonical JSON, so a release can record the exact state it applied and `verify` can
recompute it from the same files. A text opt-out stores only fingerprints of the text (the
normalised-text sha256 and a MinHash signature), never the text: near-copies match by estimated
Jaccard, exact copies by hash.
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

from pipeline.config import DedupConfig
from pipeline.steps.dedup import add_dedup_keys
from pipeline.text_identity import as_released

Kind = Literal["domain", "url_prefix", "text"]
KINDS: tuple[str, ...] = ("domain", "url_prefix", "text")
REASON = "optout_registry"  # ledger reason of a record an entry covers
TEXT_JACCARD = 0.7  # estimated Jaccard at or above which a document counts as a copy of an opted-out text
MIN_TEXT_WORDS = 20  # shorter texts cannot be fingerprinted reliably
MAX_TEXT_BYTES = 200_000
MAX_FIELD_CHARS = {"value": 2_048, "requester": 300, "note": 4_000}
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


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalise_domain(value: str) -> str:
    domain = value.strip().lower().removeprefix("www.").rstrip(".")
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d+)?", domain):
        raise RegistryError(f"not a domain: {value!r}")
    return domain


def normalise_prefix(value: str) -> str:
    prefix = value.strip()
    if not re.match(r"^https?://[^/\s]+", prefix, re.IGNORECASE):
        raise RegistryError(f"a URL prefix must start with http:// or https:// and a host: {value!r}")
    scheme, rest = prefix.split("://", 1)
    host, _, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}/{path}"


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
        shown = self.value if self.kind != "text" else f"text sha256 {self.value[:16]}…"
        return f"registry entry {self.entry_id}: {self.kind} {shown} (requested by {self.requester})"


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
            "effective_from": effective_from or received,
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
        return row["request_id"]

    def approve(self, request_id: str, effective_from: str | None = None) -> Entry:
        pending = {r["request_id"]: r for r in self.pending().iter_rows(named=True)}
        if request_id not in pending:
            raise RegistryError(f"no pending request {request_id!r}")
        r = pending[request_id]
        row = {k: r[k] for k in ("kind", "value", "minhash", "requester", "note")}
        row |= {"received_at": now_utc(), "request_id": request_id}
        row["effective_from"] = effective_from or row["received_at"]
        row["entry_id"] = "opt-" + hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()[:12]
        self._append("entries", row)
        return Entry(**row)

    # ---- reading
    def _read(self, folder: str) -> pl.DataFrame:
        files = sorted((self.path / folder).glob("*.parquet")) if (self.path / folder).is_dir() else []
        if not files:
            return pl.DataFrame(schema=ENTRY_SCHEMA)
        try:
            frame = pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")
        except Exception as err:  # any unreadable file makes the registry unusable
            raise RegistryError(f"{self.path}: unreadable registry file: {err}") from None
        return frame.select(ENTRY_SCHEMA.keys()).cast(ENTRY_SCHEMA).sort("received_at", "entry_id")

    def entries(self, as_of: str | None = None) -> pl.DataFrame:
        frame = self._read("entries")
        return frame if as_of is None else frame.filter(pl.col("received_at") <= as_of)

    def pending(self) -> pl.DataFrame:
        requests = self._read("requests")
        approved = self._read("entries")["request_id"].drop_nulls()
        return requests.filter(~pl.col("request_id").is_in(approved.implode()))

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

    def effective(self, at: str | None = None) -> list[Entry]:
        """Entries in force at `at` (default: now): received and effective at or before it."""
        at = at or now_utc()
        frame = self.entries(at).filter(pl.col("effective_from") <= at)
        return [Entry(**r) for r in frame.iter_rows(named=True)]


def _jaccard(signatures: np.ndarray, entry: np.ndarray) -> np.ndarray:
    return (signatures == entry[None, :]).mean(axis=1)


def match(frame: pl.DataFrame, entries: Iterable[Entry]) -> pl.DataFrame:
    """Which rows of `frame` (id, url, domain, norm_sha256, minhash) each entry covers.

    Returns (id, entry_id, kind, rule): the first matching entry per row, in registry order.
    Text entries match an equal normalised hash, or an estimated Jaccard >= TEXT_JACCARD.
    """
    out: list[pl.DataFrame] = []
    entries = list(entries)
    if not entries or frame.is_empty():
        return pl.DataFrame(schema={"id": pl.String, "entry_id": pl.String, "kind": pl.String, "rule": pl.String})
    sigs = None
    for e in entries:
        if e.kind == "domain":
            hit = (pl.col("domain") == e.value) | pl.col("domain").str.ends_with("." + e.value)
            rows = frame.filter(hit).select("id", rule=pl.lit(e.describe()))
        elif e.kind == "url_prefix":
            rows = frame.filter(pl.col("url").str.starts_with(e.value)).select("id", rule=pl.lit(e.describe()))
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
