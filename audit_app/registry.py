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

import ipaddress
import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from audit_app import queries

REGISTRY_ENV = "APERTURA_REGISTRY"
KINDS = {"domain": "A domain (and its subdomains)", "url_prefix": "Every URL starting with", "text": "A text"}

MAX_TEXT_BYTES = 200_000  # 200 KB of UTF-8: one article, not a corpus
MAX_VALUE_CHARS = 2_000  # a domain or URL prefix
MAX_NAME_CHARS = 200
MAX_CONTACT_CHARS = 200
MAX_NOTE_CHARS = 2_000
MAX_REQUESTS_PER_SESSION = 10  # a browser session filing more than this is refused (the queue is reviewed by hand)
MAX_REQUESTS_PER_ADDRESS_PER_HOUR = 5  # from one client address (IPv6: its /64), whatever its sessions
MAX_REQUESTS_PER_HOUR = 100  # from everybody together, counted from the registry's own files
MAX_PENDING = 10_000  # requests waiting for review; past this the app files none until some are reviewed
HOUR = 3600.0

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
    candidate = candidate if candidate.is_absolute() else root / candidate  # as messages name it
    resolved = queries.within_root(candidate, root)
    if resolved is None:
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


def address_key(address: str | None) -> str:
    """The bucket a client address is limited in: the IPv4 address, an IPv6 address's /64 (one subscriber gets a
    whole /64), 'local' for none (the socket peer is this machine: Streamlit reports no address for loopback)."""
    if not address:
        return "local"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class AddressLimiter:
    """At most `limit` requests per client address (`address_key`) in any `window` seconds, shared by every
    session of this app process (reloading the page starts a new session, not a new allowance). In memory: a
    restart forgets it (the hourly limit over everybody, counted from the registry's files, does not)."""

    def __init__(self, limit: int, window: float = HOUR, clock=time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def reserve(self, address: str | None) -> float | None:
        """Count one request for this address and return None, or return the seconds until it may file again."""
        key, now = address_key(address), self.clock()
        with self._lock:
            for k in [k for k, times in self._seen.items() if not times or times[-1] <= now - self.window]:
                del self._seen[k]  # bounded by the addresses seen in the last window
            times = self._seen.setdefault(key, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.limit:
                return times[0] + self.window - now
            times.append(now)
            return None

    def release(self, address: str | None) -> None:
        """Give back the last reservation (the request was not filed after all)."""
        with self._lock:
            times = self._seen.get(address_key(address))
            if times:
                times.pop()


LIMITER = AddressLimiter(MAX_REQUESTS_PER_ADDRESS_PER_HOUR)


def public_rule(rule: str | None) -> str | None:
    """A rule as shown to the public: a registry entry's rule without its requester's name and contact."""
    from pipeline.optout.registry import without_requester

    return without_requester(rule)


def _registry(path: Path):
    from pipeline.optout.registry import Registry

    return Registry(path)


def coverage(kind: str, value: str, *, root: Path | None = None) -> Coverage:
    """Which registry entries in force now cover a subject: kind 'domain' / 'url' (a page's URL: domain and
    URL-prefix entries apply) / 'text' (exact normalised hash or near copy by MinHash). Same rules as
    `apertura optout check`. Raises RequestError on bad input, RegistryAccessError if the registry is unusable."""
    from pipeline.optout.registry import RegistryError, entry_dict, without_requester

    if kind not in ("domain", "url", "text"):
        raise RequestError(f"unknown kind {kind!r}")
    path = registry_path(root)
    reg = _registry(path)
    try:
        covering = reg.covering(kind, check_text(value) if kind == "text" else value)
        state = reg.state()
    except RegistryError as err:
        raise RequestError(str(err)) from None
    found = [entry_dict(entry) | {"rule": without_requester(rule)} for entry, rule in covering]
    # no requester, no note: an entry's requester is somebody else's name and contact
    columns = {"entry_id": pl.String, "kind": pl.String, "value": pl.String, "received_at": pl.String,
               "effective_from": pl.String, "rule": pl.String}  # fmt: skip
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
    client: str | None = None,
) -> str:
    """Validate a rights holder's opt-out request and add it to the registry's pending queue (one new file
    under `<registry>/requests/`). Returns the request id. Raises RequestError with what to fix, or why no
    request is taken now: the queue is full (MAX_PENDING), this client address filed its hourly share
    (MAX_REQUESTS_PER_ADDRESS_PER_HOUR), or everybody together did (MAX_REQUESTS_PER_HOUR)."""
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
    reg = _registry(path)
    waiting = reg.pending_count()
    if waiting >= MAX_PENDING:
        raise RequestError(
            f"the review queue is full ({waiting:,} requests wait for review; the limit is {MAX_PENDING:,}): no "
            "request is taken until the data team has reviewed some. Please try again later, or contact the data team."
        )
    if reg.received_since(datetime.now(UTC) - timedelta(seconds=HOUR)) >= MAX_REQUESTS_PER_HOUR:
        raise RequestError(
            f"this app takes at most {MAX_REQUESTS_PER_HOUR} requests an hour from everybody together, and that many "
            "came in during the last hour. Please try again in an hour."
        )
    if (wait := LIMITER.reserve(client)) is not None:
        raise RequestError(
            f"at most {MAX_REQUESTS_PER_ADDRESS_PER_HOUR} requests an hour are taken from one address; please try "
            f"again in {max(1, round(wait / 60))} minute(s)."
        )
    try:
        return reg.file_request(kind, subject, requester=who, note=remark, text=body)
    except RegistryError as err:
        LIMITER.release(client)
        raise RequestError(str(err)) from None
    except OSError as err:
        LIMITER.release(client)
        raise RegistryAccessError(f"the registry cannot be written: {err.strerror or err}") from None


def pending_count(*, root: Path | None = None) -> int:
    """How many requests wait for approval (shown after filing, so the person sees the queue is real)."""
    return _registry(registry_path(root)).pending_count()


REQUEST_ID = re.compile(r"req-[0-9a-f]{12}")


def request_status(request_id: str, catalog: pl.DataFrame | None = None, *, root: Path | None = None) -> dict[str, Any]:
    """Where a request stands, for the person who filed it (nobody's name or contact is returned):
    {"state": "pending" | "approved" | "unknown", "kind", "subject" (a domain or URL prefix; a text shows its
    fingerprint only), "received_at", "entry_id", "effective_from", "release": the first release under the data
    root derived with the registry after the entry was added (its removal is in force from there), or None}.
    RequestError for an id that is not of the form req-<12 hex digits>."""
    wanted = (request_id or "").strip()
    if not REQUEST_ID.fullmatch(wanted):
        raise RequestError("a request id looks like req- followed by 12 characters 0-9 and a-f, e.g. req-0123456789ab")
    reg = _registry(registry_path(root))
    from pipeline.optout.registry import RegistryError

    try:
        entries = reg.entries().filter(pl.col("request_id") == wanted)
        pending = reg.pending().filter(pl.col("request_id") == wanted) if not entries.height else entries.clear()
    except RegistryError as err:
        raise RegistryAccessError(f"the registry cannot be read: {err}") from None
    out: dict[str, Any] = {"request_id": wanted, "state": "unknown", "kind": None, "subject": None,
                           "received_at": None, "entry_id": None, "effective_from": None, "release": None}  # fmt: skip
    row = entries.row(0, named=True) if entries.height else pending.row(0, named=True) if pending.height else None
    if row is None:
        return out
    subject = row["value"] if row["kind"] != "text" else f"text with normalised sha256 {row['value'][:16]}…"
    out |= {"kind": row["kind"], "subject": subject, "received_at": row["received_at"]}
    if not entries.height:
        return out | {"state": "pending"}
    out |= {"state": "approved", "entry_id": row["entry_id"], "effective_from": row["effective_from"]}
    if catalog is not None and catalog.height:
        applied = catalog.filter(
            pl.col("registry_as_of").is_not_null()
            & (pl.col("registry_as_of") >= row["received_at"])
            & (pl.col("derived_at") >= row["effective_from"])
        ).sort("derived_at")
        if applied.height:
            out["release"] = {"release_id": applied["release_id"][0], "path": applied["path"][0],
                              "derived_at": applied["derived_at"][0]}  # fmt: skip
    return out
