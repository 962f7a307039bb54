"""The audit app's only write: a rights holder's opt-out request into the registry's pending queue, and the
read-only check of which registry entries in force cover a domain, a URL or a text.

Where: $APERTURA_REGISTRY, else `<data root>/registry`; a relative path is taken relative to the data root,
and the resolved directory must lie inside the data root and outside every release (a release is immutable:
nothing the app does may add a file to one). Writing is `pipeline.optout.registry.Registry.file_request`,
which only adds one new file under `<registry>/requests/`; a data engineer approves it with
`apertura optout approve <id>`, which appends the entry. Nothing here touches a release.

The pipeline's registry code (fingerprints, matching) is imported only when used, as `audit_app.source` does
for `reopen_record`: the page then matches exactly as `apertura optout check` and `release derive` do.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from audit_app import queries

REGISTRY_ENV = "APERTURA_REGISTRY"
KINDS = {"domain": "A domain (and its subdomains)", "url_prefix": "Every URL starting with", "text": "A text"}

MAX_TEXT_BYTES = queries.MAX_RIGHTS_TEXT_BYTES  # 200 KB of UTF-8: one article, not a corpus
MAX_VALUE_CHARS = 2_000  # a domain or URL prefix
MAX_NAME_CHARS = 200
MAX_CONTACT_CHARS = 200
MAX_NOTE_CHARS = 2_000
MAX_REQUESTS_PER_SESSION = 10  # a browser session filing more than this is refused (the queue is reviewed by hand)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # everything below space except tab and newline, and DEL
_EMAIL = re.compile(r"^[^@\s<>]++@[^@\s<>.]++(?:\.[^@\s<>.]++)++$")  # possessive: linear on any input
_WEB = re.compile(r"^https?://[^\s<>]+$", re.IGNORECASE)


class RegistryAccessError(ValueError):
    """The registry cannot be used from the app (outside the data root, inside a release, unreadable). Safe to
    show."""


class RequestError(ValueError):
    """A refused opt-out request: the message says what to fix. Safe to show."""


@dataclass(frozen=True)
class Coverage:
    """Registry entries in force that cover a subject (`entries`: entry_id, kind, value, requester, effective_from,
    rule) and the registry's current state (sha256, entries, as_of)."""

    entries: pl.DataFrame
    state: dict[str, Any]
    path: Path

    @property
    def covered(self) -> bool:
        return self.entries.height > 0


def registry_path(root: Path | None = None) -> Path:
    """The registry directory: $APERTURA_REGISTRY (relative to the data root) or `<root>/registry`, resolved
    and confined to the data root, never inside a release directory (it may not exist yet)."""
    root = (root or queries.data_root()).resolve()
    given = (os.environ.get(REGISTRY_ENV) or "").strip()
    if "\x00" in given:
        raise RegistryAccessError(f"{REGISTRY_ENV} is not a path")
    candidate = Path(given).expanduser() if given else root / "registry"
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root):
        raise RegistryAccessError(
            f"the registry {str(candidate)!r} is outside the data root {root}; set {REGISTRY_ENV} to a directory in it"
        )
    if resolved.exists() and not resolved.is_dir():
        raise RegistryAccessError(f"the registry {str(candidate)!r} is not a directory")
    for release in queries.find_releases(root):
        if resolved == release or resolved.is_relative_to(release):
            raise RegistryAccessError(
                f"the registry {str(candidate)!r} lies inside the release {release.name}: releases are immutable"
            )
    return resolved


def _registry(path: Path):
    from pipeline.optout.registry import Registry

    return Registry(path)


def coverage(kind: str, value: str, *, root: Path | None = None) -> Coverage:
    """Which registry entries in force now cover a subject: kind 'domain' / 'url' (a page's URL: domain and
    URL-prefix entries apply) / 'text' (exact normalised hash or near copy by MinHash). Same rules as
    `apertura optout check`. Raises RequestError on bad input, RegistryAccessError if the registry is unusable."""
    from pipeline.optout.registry import RegistryError, entry_dict

    if kind not in ("domain", "url", "text"):
        raise RequestError(f"unknown kind {kind!r}")
    path = registry_path(root)
    reg = _registry(path)
    try:
        covering = reg.covering(kind, check_text(value) if kind == "text" else value)
        state = reg.state()
    except RegistryError as err:
        raise RequestError(str(err)) from None
    found = [{k: v for k, v in entry_dict(entry).items() if k != "note"} | {"rule": rule} for entry, rule in covering]
    columns = {"entry_id": pl.String, "kind": pl.String, "value": pl.String, "requester": pl.String,
               "received_at": pl.String, "effective_from": pl.String, "rule": pl.String}  # fmt: skip
    frame = pl.DataFrame([{k: f.get(k) for k in columns} for f in found], schema=columns)
    return Coverage(frame, state, path)


def entry_dates(entry_ids: list[str], *, root: Path | None = None) -> dict[str, str]:
    """effective_from of each registry entry id (ids not in the registry are left out): when an opt-out took
    effect, for the 'removed since' column."""
    if not entry_ids:
        return {}
    from pipeline.optout.registry import RegistryError

    try:
        frame = _registry(registry_path(root)).entries()
    except (RegistryError, RegistryAccessError):
        return {}
    frame = frame.filter(pl.col("entry_id").is_in(list(entry_ids)))
    return dict(frame.select("entry_id", "effective_from").iter_rows())


def check_text(text: str | None) -> str:
    """Pasted text within MAX_TEXT_BYTES (UTF-8), NUL characters removed; refused, never truncated."""
    raw = (text or "").replace("\x00", "")
    size = len(raw.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise RequestError(f"the text is {size:,} bytes long; the limit is {MAX_TEXT_BYTES:,} (about one article)")
    if not raw.strip():
        raise RequestError("paste the text to opt out")
    return raw


def _field(value: str | None, name: str, limit: int, *, required: bool, multiline: bool = False) -> str:
    text = (value or "").strip()
    if required and not text:
        raise RequestError(f"{name} is required")
    if len(text) > limit:
        raise RequestError(f"{name} is {len(text):,} characters long; the limit is {limit:,}")
    if _CONTROL.search(text) or (not multiline and ("\n" in text or "\t" in text)):
        raise RequestError(f"{name} contains control characters or line breaks")
    return text


def requester(name: str | None, contact: str | None) -> str:
    """'Name <contact>' from the two form fields: both required, the contact an e-mail address or a web address."""
    who = _field(name, "your name", MAX_NAME_CHARS, required=True)
    how = _field(contact, "a contact", MAX_CONTACT_CHARS, required=True)
    if "<" in who or ">" in who:
        raise RequestError("your name cannot contain '<' or '>'")
    if not (_EMAIL.match(how) or _WEB.match(how)):
        raise RequestError("the contact must be an e-mail address (name@example.org) or a web address (https://…)")
    return f"{who} <{how}>"


def file_request(
    kind: str,
    value: str = "",
    *,
    name: str,
    contact: str,
    note: str = "",
    text: str | None = None,
    root: Path | None = None,
) -> str:
    """Validate a rights holder's opt-out request and add it to the registry's pending queue (one new file
    under `<registry>/requests/`). Returns the request id. Raises RequestError with what to fix."""
    from pipeline.optout.registry import RegistryError

    if kind not in KINDS:
        raise RequestError(f"choose what to opt out: {', '.join(KINDS)}")
    who = requester(name, contact)
    remark = _field(note, "the note", MAX_NOTE_CHARS, required=False, multiline=True)
    if kind == "text":
        body, subject = check_text(text), ""
    else:
        subject = _field(value, "the domain" if kind == "domain" else "the URL prefix", MAX_VALUE_CHARS, required=True)
        body = None
    path = registry_path(root)
    try:
        return _registry(path).file_request(kind, subject, requester=who, note=remark, text=body)
    except RegistryError as err:
        raise RequestError(str(err)) from None
    except OSError as err:
        raise RegistryAccessError(f"the registry cannot be written: {err.strerror or err}") from None


def pending_count(*, root: Path | None = None) -> int:
    """How many requests wait for approval (shown after filing, so the person sees the queue is real)."""
    return _registry(registry_path(root)).pending().height
