"""Where a release is: a local directory, or a URI of any filesystem pyarrow knows (`s3://bucket/prefix`, `gs://`,
`hdfs://`, ...) brought to a local copy first. The one place that knows the difference: `locate` turns what a user
typed into a local release directory, and every reader (`verify`, `show`, `stats`, `check`, the app) then reads
that directory exactly as it reads a local release.

Why a local copy and not Parquet read remotely: the release's membership index is a DuckDB database file and
full-text shards that only open from local disk, `verify` must hash every byte of every file anyway, and DuckDB's
httpfs extension is not bundled with duckdb and may not be downloaded at run time. So a remote release is copied
once, the manifest first and always afresh (it is the root of trust), then every other object under the prefix.

Two kinds of copy:
- `fetch` (show, stats, check, the app): a cache under $XDG_CACHE_HOME/apertura/releases (or $APERTURA_CACHE_DIR),
  one directory per URI, files read-only. A cached file is reused only when its sha256 matches the digest the
  fresh manifest (or, for index and commitments files, the fresh sidecar JSON) gives it; a downloaded table file or
  description whose sha256 differs from the manifest is refused (the remote release is damaged: `verify` says
  where), and so is a release whose store lacks a file the manifest lists. Files the manifest does not describe
  are downloaded every time (within the limits below).
- `fetch_fresh` (verify): every object downloaded anew into a temporary directory, nothing reused, nothing
  refused but what exceeds the limits below: `verify` hashes and checks it all and must see the remote bytes, not
  a copy made earlier.

Never more bytes than the release accounts for (a store may be hostile or damaged and must not fill the disk): a
file the manifest or a sidecar JSON (index/index.json, commitments/commitments.json) describes is refused unread
when the store lists it larger than recorded, and reading stops past its recorded size whatever the listing said;
the manifest and sidecar JSONs stop at MAX_JSON_BYTES; files nothing describes are capped (`Limits`: count and total
bytes, env APERTURA_REMOTE_MAX_UNDESCRIBED_FILES / _BYTES). `fetch` refuses such a release in one line naming the
objects; `fetch_fresh` leaves them out and names them in `Fetched.refused`, which fails verify's files check.

Endpoint and credentials are pyarrow's: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_PROFILE, AWS_ENDPOINT_URL
for an S3-compatible server (pyarrow honours it when it parses the URI), or the URI's own options
(`?endpoint_override=host:9000&scheme=http`). Every failure is a ReleaseError of one line.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipeline.proofs.commitments import SIDECAR, SIDECAR_JSON
from pipeline.release_read import INDEX_DIR, INDEX_JSON, MANIFEST, MAX_JSON_BYTES, ReleaseError, load_manifest

CACHE_ENV = "APERTURA_CACHE_DIR"
CHUNK = 8 << 20  # bytes per read: bounded memory whatever the file size
FILES_ENV, BYTES_ENV = "APERTURA_REMOTE_MAX_UNDESCRIBED_FILES", "APERTURA_REMOTE_MAX_UNDESCRIBED_BYTES"
DEFAULT_UNDESCRIBED_FILES = 1_000  # a release holds a handful (the full-text index's lock files)
SIDECARS = ((INDEX_DIR, INDEX_JSON), (SIDECAR, SIDECAR_JSON))  # JSON files that describe their siblings
DEFAULT_UNDESCRIBED_BYTES = 256 << 20
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_remote(location: str | os.PathLike[str]) -> bool:
    """True for a URI of a filesystem other than the local one (`s3://...`); a path or `file://` URI is local."""
    match = _SCHEME.match(os.fspath(location)) if isinstance(location, str) else None
    return match is not None and match.group(1).lower() != "file"


def cache_root() -> Path:
    """$APERTURA_CACHE_DIR, else $XDG_CACHE_HOME/apertura/releases (an absolute XDG_CACHE_HOME only, as the XDG
    spec says), else ~/.cache/apertura/releases."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME", "")
    return Path(base if os.path.isabs(base) else Path.home() / ".cache") / "apertura" / "releases"


@dataclass(frozen=True)
class Limits:
    """How many files, and bytes in all, a fetch takes that neither the manifest nor index/index.json describes
    (a store can hold anything under the prefix; described files are bounded by their recorded sizes)."""

    files: int = DEFAULT_UNDESCRIBED_FILES
    bytes: int = DEFAULT_UNDESCRIBED_BYTES

    @classmethod
    def from_env(cls) -> Limits:
        """The defaults, each overridden by its environment variable (a non-negative integer)."""
        values = {}
        for field, name in (("files", FILES_ENV), ("bytes", BYTES_ENV)):
            text = os.environ.get(name, "").strip().replace("_", "")
            if text:
                if not text.isdigit():
                    raise ReleaseError(f"{name}={os.environ[name]!r}: not a non-negative whole number")
                values[field] = int(text)
        return cls(**values)


@dataclass(frozen=True)
class Fetched:
    """A remote release copied to local disk: where from, where to, and what was downloaded or reused."""

    uri: str
    local: Path
    downloaded: int
    reused: int
    bytes_downloaded: int
    refused: tuple[str, ...] = ()  # verify's copy only: what was not downloaded and why (one line each)
    withheld: frozenset[str] = frozenset()  # the paths of objects not downloaded

    def describe(self) -> str:
        reused = f", {self.reused} reused from the cache (sha256 matched the manifest)" if self.reused else ""
        return (
            f"release fetched from {self.uri} into {self.local}: {self.downloaded} files "
            f"({self.bytes_downloaded:,} bytes) downloaded{reused}"
        )


def locate(location: str | os.PathLike[str]) -> tuple[Path, Fetched | None]:
    """The local release directory for what a user gave: a path as it is; a `file://` URI as its path; a remote
    URI fetched into the cache (`fetch`). The second value says where a fetched release came from."""
    text = os.fspath(location)
    if is_remote(text):
        fetched = fetch(text)
        return fetched.local, fetched
    if text.lower().startswith("file://"):
        from pyarrow import fs as pafs

        return Path(pafs.FileSystem.from_uri(text)[1]), None
    return Path(text), None


_COPIES: dict[str, str] = {}  # local copy -> URI, for every release this process fetched (`as_given`)


def as_given(message: str) -> str:
    """`message` with each fetched release's local copy named by the URI the user gave: a reader's error about
    the copy (a file missing, a manifest that lacks a key) is about the remote release."""
    for local, uri in sorted(_COPIES.items(), key=lambda item: -len(item[0])):
        message = message.replace(local, uri)
    return message


def fetch(uri: str, limits: Limits | None = None) -> Fetched:
    """Copy the release at `uri` into its cache directory (see the module docstring) and return where it is."""
    local = cache_root() / _cache_name(uri)
    local.mkdir(parents=True, exist_ok=True)
    _COPIES[str(local)] = uri
    return _copy_release(uri, local, reuse=True, limits=limits)


@contextmanager
def fetch_fresh(uri: str, limits: Limits | None = None) -> Iterator[Fetched]:
    """Every object of the release at `uri` downloaded anew into a temporary directory, removed afterwards; what
    exceeds its recorded size or `limits` is not downloaded but named in `Fetched.refused`."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".verify-", dir=root) as directory:
        yield _copy_release(uri, Path(directory), reuse=False, limits=limits)


def _cache_name(uri: str) -> str:
    """One directory per URI: a digest of it (any two URIs differ) and its last path part (for people)."""
    tail = re.sub(r"[^A-Za-z0-9._-]+", "_", uri.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])[:40]
    return f"{hashlib.sha256(uri.encode()).hexdigest()[:16]}-{tail or 'release'}"


# ---------------------------------------------------------------------------------------------- copying


class _TooLarge(Exception):
    """A download that went past the bytes it may have; reading stopped there and nothing was kept."""

    def __init__(self, read: int) -> None:
        super().__init__(read)
        self.read = read


def _copy_release(uri: str, local: Path, *, reuse: bool, limits: Limits | None = None) -> Fetched:
    """Copy every object under `uri` into `local`. Never more bytes than the release accounts for: a described file
    is read up to the size its description records (a store listing it larger is refused before any byte is read),
    the manifest and sidecar JSONs up to MAX_JSON_BYTES, and files nothing describes up to `limits`. With `reuse`
    (the cache) any such refusal is a ReleaseError; without it (verify) what was refused is not downloaded and is
    named in `Fetched.refused`, for verify's files check to fail on."""
    from pyarrow import fs as pafs

    limits = limits or Limits.from_env()
    try:
        filesystem, root = pafs.FileSystem.from_uri(uri)
    except (ValueError, OSError, TypeError) as err:  # an unknown scheme, a malformed URI, a bad option
        raise ReleaseError(f"{uri}: {_one_line(err)}") from None
    root = root.rstrip("/")
    with _storage_errors(uri):
        info = filesystem.get_file_info(f"{root}/{MANIFEST}")
        if info.type != pafs.FileType.File:
            _no_manifest(uri, filesystem, root)
        if info.size is not None and info.size > MAX_JSON_BYTES:
            raise ReleaseError(f"{uri}: {MANIFEST} is larger than {MAX_JSON_BYTES >> 20} MiB: not a release manifest")
        objects = _objects(uri, filesystem, root)
    counts = {"downloaded": 0, "reused": 0, "bytes": 0}
    refused: list[str] = []
    withheld: set[str] = set()

    def refuse(relative: str, problem: str) -> None:
        if reuse:
            raise ReleaseError(f"{uri}: {problem}; `apertura verify {uri}` says what else")
        refused.append(problem)
        withheld.add(relative)

    def download(relative: str, expected: tuple[int, str] | None, *, strict: bool, limit: int) -> int | None:
        """The bytes downloaded, or None when the object went past `limit` (nothing kept)."""
        try:
            with _storage_errors(uri):
                size, sha256 = _download(filesystem, f"{root}/{relative}", local / relative,
                                         expected if strict else None, limit)  # fmt: skip
        except _TooLarge:
            return None
        if strict and expected is not None and (size, sha256) != expected:
            raise ReleaseError(
                f"{uri}: {relative} differs from the manifest ({size} bytes, sha256 {sha256[:16]}…): the remote "
                f"release is damaged or was changed; `apertura verify {uri}` says what else"
            )
        counts["downloaded"] += 1
        counts["bytes"] += size
        return size

    def download_json(relative: str) -> None:
        if download(relative, None, strict=False, limit=MAX_JSON_BYTES) is None:
            raise ReleaseError(f"{uri}: {relative} is larger than {MAX_JSON_BYTES >> 20} MiB: not {relative}")

    download_json(MANIFEST)  # always afresh: it is what every other file is checked against
    manifest = _load_fetched_manifest(uri, local)
    expected = {f["path"]: (f.get("bytes"), f.get("sha256")) for f in _described(manifest)}
    if reuse and (absent := sorted(_listed(manifest) - objects.keys())):  # verify reports each as missing
        shown = ", ".join(absent[:5]) + (f" and {len(absent) - 5:,} more" if len(absent) > 5 else "")
        raise ReleaseError(f"{uri}: the manifest lists {shown}, which the store does not hold: the remote release is "
                           f"incomplete; `apertura verify {uri}` says what else")  # fmt: skip
    sidecars = [f"{directory}/{name}" for directory, name in SIDECARS if f"{directory}/{name}" in objects]
    for sidecar in sidecars:
        download_json(sidecar)
        expected |= _sidecar_digests(local, sidecar)
    rest = sorted(objects.keys() - {MANIFEST, *sidecars})
    undescribed = [r for r in rest if r not in expected]
    over = _over_limits(undescribed, objects, limits)
    if over:
        refuse("", over)
        withheld.update(undescribed)
    budget, vouched = limits.bytes, _listed(manifest)
    for relative in rest:
        digest = expected.get(relative)
        recorded = digest[0] if digest is not None and _is_size(digest[0]) else None
        if relative in withheld:
            continue
        if recorded is not None and objects[relative] is not None and objects[relative] > recorded:
            in_store = objects[relative]
            refuse(relative, f"{relative} is {in_store:,} bytes in the store, its description records {recorded:,}: "
                             "not downloaded (the remote release is damaged or was changed)")  # fmt: skip
            continue
        if reuse and digest is not None and _matches(local / relative, digest):
            counts["reused"] += 1
            continue
        limit = recorded if recorded is not None else budget
        size = download(relative, digest, strict=reuse and relative in vouched, limit=limit)
        if size is None and recorded is not None:
            refuse(relative, f"{relative} holds more than the {recorded:,} bytes its description records: download "
                             "stopped there (the remote release is damaged or was changed)")  # fmt: skip
        elif size is None:
            refuse(relative, _over_text(undescribed, limits, f"{relative} grew past the byte limit while downloaded"))
            withheld.update(undescribed)
        elif recorded is None:
            budget -= size
    _remove_stale(local, set(objects) - withheld)
    return Fetched(uri, local, counts["downloaded"], counts["reused"], counts["bytes"], tuple(refused),
                   frozenset(withheld))  # fmt: skip


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _over_limits(undescribed: list[str], objects: dict[str, int | None], limits: Limits) -> str | None:
    """One line naming the files nothing describes when there are more of them, or more bytes, than `limits`."""
    total = sum(objects[r] or 0 for r in undescribed)
    if len(undescribed) <= limits.files and total <= limits.bytes:
        return None
    what = f"holds {len(undescribed):,} files ({total:,} bytes) that neither the manifest nor a sidecar describes"
    return _over_text(undescribed, limits, what)


def _over_text(undescribed: list[str], limits: Limits, what: str) -> str:
    shown = ", ".join(undescribed[:5]) + (f" and {len(undescribed) - 5:,} more" if len(undescribed) > 5 else "")
    return (
        f"{what}: over the limit of {limits.files:,} files / {limits.bytes:,} bytes ({FILES_ENV}, {BYTES_ENV}), "
        f"none downloaded: {shown}"
    )


def _load_fetched_manifest(uri: str, local: Path) -> dict:
    """The downloaded manifest, its errors naming the URI and the object, not the local copy's path."""
    try:
        return load_manifest(local)
    except ReleaseError as err:
        message = str(err).replace(str(local / MANIFEST), f"{uri}/{MANIFEST}").replace(str(local), uri)
        raise ReleaseError(message) from None


def _described(manifest: dict) -> list[dict]:
    """The manifest's entries for table files and descriptions (each a dict with a string path)."""
    descriptions = manifest.get("descriptions")
    entries = [*manifest["files"], *(descriptions if isinstance(descriptions, list) else [])]
    return [f for f in entries if isinstance(f, dict) and isinstance(f.get("path"), str)]


def _listed(manifest: dict) -> set[str]:
    """Paths the manifest itself vouches for (table files and descriptions): a differing download is refused."""
    return {f["path"] for f in _described(manifest)}


def _sidecar_digests(local: Path, sidecar: str) -> dict[str, tuple[int, str]]:
    """A sidecar description's (bytes, sha256) per file beside it (index/index.json, commitments/commitments.json):
    each file is then bounded by its recorded size and reused from the cache when it matches (the index and
    commitments checks say whether the sidecar fits the tables)."""
    import json

    directory = sidecar.rsplit("/", 1)[0]
    try:
        info = json.loads((local / sidecar).read_text(encoding="utf-8"))
        return {f"{directory}/{f['path']}": (f["bytes"], f["sha256"]) for f in info.get("files", [])
                if isinstance(f, dict) and isinstance(f.get("path"), str)}  # fmt: skip
    except (ValueError, OSError, KeyError, AttributeError, TypeError):
        return {}  # not a sidecar description: each file counts as undescribed, and opening the sidecar says why


def _objects(uri: str, filesystem, root: str) -> dict[str, int]:
    """Every file under the prefix, by path relative to it. An object name that could not be a file of the release
    (`..`, empty parts, a backslash) is refused: it must never become a path outside the copy."""
    from pyarrow import fs as pafs

    found = {}
    for info in filesystem.get_file_info(pafs.FileSelector(root, recursive=True)):
        if info.type != pafs.FileType.File:
            continue
        relative = info.path[len(root) + 1 :] if info.path.startswith(root + "/") else None
        parts = PurePosixPath(relative or "").parts
        if not relative or "\\" in relative or "\x00" in relative or any(p in ("", ".", "..") for p in parts) \
                or relative != "/".join(parts):  # fmt: skip
            raise ReleaseError(f"{uri}: holds an object named {info.path!r}, which cannot be a file of a release")
        found[relative] = info.size
    return found


def _matches(path: Path, expected: tuple[int, str]) -> bool:
    """A cached file is the one described: same size, then same sha256 (hashed now, never remembered)."""
    try:
        if path.stat().st_size != expected[0]:
            return False
        return _sha256(path) == expected[1]
    except OSError:
        return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(filesystem, source: str, dest: Path, expected: tuple[int, str] | None, limit: int) -> tuple[int, str]:
    """Stream `source` to `dest` (a temporary name, then rename, read-only); return (bytes, sha256). With `expected`
    a copy that differs is not renamed into place: the cache never holds a listed file the manifest disowns. Reading
    stops one byte past `limit` (_TooLarge, nothing kept): a store cannot make a download longer than allowed."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    handle, temporary = tempfile.mkstemp(prefix=".part-", dir=dest.parent)
    try:
        with os.fdopen(handle, "wb") as out, filesystem.open_input_stream(source) as stream:
            while block := stream.read(min(CHUNK, limit + 1 - size)):
                digest.update(block)
                size += len(block)
                if size > limit:
                    raise _TooLarge(size)
                out.write(block)
        if expected is None or (size, digest.hexdigest()) == expected:
            os.chmod(temporary, 0o444)
            os.replace(temporary, dest)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return size, digest.hexdigest()


def _remove_stale(local: Path, keep: set[str]) -> None:
    """The copy holds exactly the remote objects: a file removed remotely goes (verify looks for strays)."""
    for path in sorted(local.rglob("*"), reverse=True):
        relative = path.relative_to(local).as_posix()
        if path.is_file() and relative not in keep and not path.name.startswith(".part-"):  # another fetch's
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


# ---------------------------------------------------------------------------------------------- errors


def _no_manifest(uri: str, filesystem, root: str) -> None:
    """Why there is no manifest at `uri`: no such bucket (raised by the listing), nothing there, or no release."""
    from pyarrow import fs as pafs

    try:  # a missing bucket raises here (NO_SUCH_BUCKET); a missing prefix is FileNotFoundError or nothing
        listed = filesystem.get_file_info(pafs.FileSelector(root, recursive=False))
    except FileNotFoundError:
        listed = []
    if not listed:
        raise ReleaseError(f"{uri}: nothing is there (no such prefix): not a release")
    raise ReleaseError(f"{uri} is not a release: {MANIFEST} is missing ({len(listed)} entries there)")


NO_CREDENTIALS = "no credentials are set (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE")
_AWS_ERRORS = {
    "NETWORK_CONNECTION": "cannot reach the storage endpoint{endpoint}",
    "NO_SUCH_BUCKET": "the bucket does not exist",
    "ACCESS_DENIED": "access denied{credentials}",
    "INVALID_ACCESS_KEY_ID": "the access key is not known to the store{credentials}",
    "SIGNATURE_DOES_NOT_MATCH": "the secret key does not match the access key{credentials}",
    "MISSING_AUTHENTICATION_TOKEN": "the store wants credentials{credentials}",
}


@contextmanager
def _storage_errors(uri: str) -> Iterator[None]:
    """A storage error as one line that says what to do (pyarrow's are several lines with request ids)."""
    try:
        yield
    except ReleaseError:
        raise
    except FileNotFoundError as err:
        raise ReleaseError(f"{uri}: {_one_line(err)}") from None
    except OSError as err:
        text = str(err)
        kind = next((k for k in _AWS_ERRORS if f"AWS Error {k}" in text), None)
        if kind is None and ("403" in text and "AWS Error" in text):
            kind = "ACCESS_DENIED"
        has_credentials = any(os.environ.get(v) for v in CREDENTIAL_VARIABLES)
        if kind is None:  # an answer we have no words for; without credentials that is the likely cause
            hint = "" if has_credentials or "AWS Error" not in text else f" ({NO_CREDENTIALS})"
            raise ReleaseError(f"{uri}: {_one_line(err)}{hint}") from None
        endpoint = _endpoint(uri)
        check = ": check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
        credentials = check if has_credentials else f": {NO_CREDENTIALS}"
        what = _AWS_ERRORS[kind].format(endpoint=f" {endpoint}" if endpoint else "", credentials=credentials)
        detail = re.search(r"Details: ([^\n]*)", text) if kind == "NETWORK_CONNECTION" else None
        raise ReleaseError(f"{uri}: {what}" + (f" ({detail.group(1).strip()})" if detail else "")) from None


def _endpoint(uri: str) -> str | None:
    """The endpoint a request went to, as the user set it: the URI's `?endpoint_override=` (with its `scheme=`),
    which pyarrow prefers, else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL."""
    from urllib.parse import parse_qs, urlsplit

    options = parse_qs(urlsplit(uri).query)
    if override := (options.get("endpoint_override") or [""])[0]:
        scheme = (options.get("scheme") or [""])[0]
        return override if "://" in override or not scheme else f"{scheme}://{override}"
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:400] or type(err).__name__


__all__ = ["BYTES_ENV", "CACHE_ENV", "FILES_ENV", "Fetched", "Limits", "as_given", "cache_root", "fetch",
           "fetch_fresh", "is_remote", "locate"]  # fmt: skip
