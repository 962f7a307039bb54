"""Remote releases (issue 20, item 5): a release published to an S3-compatible server is read back by `verify`,
`stats`, `show`, `check` and the audit app from its `s3://` URI.

The server is moto's, started by the test on 127.0.0.1 (dev extra). Every AWS variable points at it (endpoint,
dummy credentials, no profile files, instance metadata off), so nothing here resolves or reaches a real AWS host.
"""

from __future__ import annotations

import json
import logging
import socket
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

moto_server = pytest.importorskip(
    "moto.server", reason="moto[server] (the dev extra) is not installed: no S3-compatible server to test against"
)

from pyarrow import fs as pafs  # noqa: E402

from pipeline.cli import app  # noqa: E402

BUCKET = "releases"
AWS_VARIABLES = ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI")  # fmt: skip


@pytest.fixture(scope="module")
def server():
    """(host, port) of an S3-compatible server on loopback, with the bucket created."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    s3 = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    host, port = s3.get_host_and_port()
    assert host == "127.0.0.1"
    _store(port).create_dir(BUCKET)
    yield host, port
    s3.stop()


def _store(port: int) -> pafs.S3FileSystem:
    """A client for the test server itself (explicit endpoint: never the environment's)."""
    return pafs.S3FileSystem(access_key="testing", secret_key="testing", region="us-east-1", scheme="http",
                             endpoint_override=f"127.0.0.1:{port}", allow_bucket_creation=True)  # fmt: skip


def _aws_env(monkeypatch, tmp_path: Path, endpoint: str) -> None:
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask 169.254.169.254 for credentials
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("APERTURA_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def s3(server, monkeypatch, tmp_path) -> int:
    """The environment of a user of the test server (AWS_ENDPOINT_URL, dummy credentials); returns its port."""
    _aws_env(monkeypatch, tmp_path, f"http://127.0.0.1:{server[1]}")
    return server[1]


@pytest.fixture(scope="module")
def published(server, planted_release, tmp_path_factory) -> dict[str, str]:
    """The planted release published with `apertura release publish` under several prefixes (most get tampered)."""
    release, _, _ = planted_release
    with pytest.MonkeyPatch.context() as monkeypatch:
        _aws_env(monkeypatch, tmp_path_factory.mktemp("publish"), f"http://127.0.0.1:{server[1]}")
        names = ("r1", "tampered", "damaged", "cached", "padded", "crowded", "bulky", "badmanifest", "missing")
        uris = {name: f"s3://{BUCKET}/{name}" for name in names}
        for uri in uris.values():
            result = CliRunner().invoke(app, ["release", "publish", str(release), uri])
            assert result.exit_code == 0, result.output
    return uris


def _run(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def _part(manifest: dict, table: str) -> str:
    return next(f["path"] for f in manifest["files"] if f["table"] == table and f["rows"])


def _flip_middle_byte(store: pafs.S3FileSystem, key: str) -> None:
    """Tamper with one object in place: same size, one byte different."""
    with store.open_input_stream(key) as stream:
        data = bytearray(stream.read())
    data[len(data) // 2] ^= 0xFF
    with store.open_output_stream(key) as out:
        out.write(bytes(data))


# ---------------------------------------------------------------------------------------------- round trip


def test_verify_reads_a_published_release_from_s3(s3, published, planted_release):
    release, manifest, _ = planted_release
    result = _run("verify", published["r1"], "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["release"] == published["r1"]
    assert f"fetched from {published['r1']}" in report["fetched"]
    local = json.loads(_run("verify", str(release), "--json").stdout)
    assert [c["name"] for c in report["checks"]] == [c["name"] for c in local["checks"]]  # every check ran
    files = next(c for c in report["checks"] if c["name"] == "files and sha256")
    listed = len(manifest["files"]) + len(manifest.get("descriptions") or [])
    assert files["ok"] and files["detail"] == f"{listed} files match"
    text = _run("verify", published["r1"])
    assert text.exit_code == 0 and "release verifies" in text.stdout
    assert f"release fetched from {published['r1']}" in text.stderr


def test_a_tampered_object_fails_verify_even_after_a_good_copy_was_cached(s3, published, planted_release):
    _, manifest, _ = planted_release
    uri = published["tampered"]
    assert _run("stats", uri).exit_code == 0  # the cache now holds every file, each matching the manifest
    part = _part(manifest, "documents")
    _flip_middle_byte(_store(s3), f"{BUCKET}/tampered/{part}")
    result = _run("verify", uri, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    failed = [(c["name"], c["detail"]) for c in report["checks"] if not c["ok"]]
    assert not report["ok"]
    assert failed == [("files and sha256", f"{part}: sha256 differs from the manifest (file changed)")]
    text = _run("verify", uri)
    assert text.exit_code == 1 and "release does NOT verify" in text.stdout and "release verifies" not in text.stdout


def test_a_damaged_remote_file_is_never_read_as_the_release(s3, published, planted_release):
    """Without a good cached copy, `stats` refuses a table file whose sha256 differs from the manifest."""
    _, manifest, _ = planted_release
    part = _part(manifest, "ledger")
    _flip_middle_byte(_store(s3), f"{BUCKET}/damaged/{part}")
    result = _run("stats", published["damaged"])
    assert result.exit_code == 2
    assert "differs from the manifest" in result.stderr and "apertura verify" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_stats_show_and_check_read_the_s3_release(s3, published, planted_release):
    release, manifest, expect = planted_release
    uri = published["r1"]
    remote = _run("stats", uri, "--json")
    assert remote.exit_code == 0, remote.output
    stats = json.loads(remote.stdout)
    assert sum(f["table"] == "documents" for f in manifest["files"]) == 1
    documents = pq.read_table(release / _part(manifest, "documents"))
    assert stats["counts"]["kept"] == documents.num_rows == sum(e.stage is None for e in expect.values())
    assert stats == json.loads(_run("stats", str(release), "--json").stdout)  # the same answers as from disk

    doc_id, url = documents.column("id")[0].as_py(), documents.column("url")[0].as_py()
    shown = _run("show", uri, doc_id)
    assert shown.exit_code == 0, shown.output
    assert f"{doc_id}: IN the release (documents)" in shown.stdout and url in shown.stdout
    assert "payload digest matches" in shown.stdout  # the source WARC is reopened as for a local release

    checked = _run("check", uri, "--url", url, "--json")
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["verdict"] == "in"
    removed = next(u for u, e in expect.items() if e.stage is not None)
    assert json.loads(_run("check", uri, "--url", removed, "--json").stdout)["verdict"] == "not in"


def test_search_reads_the_s3_release(s3, published, planted_release):
    """`apertura search` on the URI finds a word of a kept document, with the same hits as on the local release."""
    release, manifest, _ = planted_release
    documents = pq.read_table(release / _part(manifest, "documents"), columns=["id", "text"])
    doc_id, text = documents.column("id")[0].as_py(), documents.column("text")[0].as_py()
    word = max((w for w in text.split() if w.isalpha()), key=len)  # a rare word of this document
    result = _run("search", published["r1"], word, "--json", "--limit", "100")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert doc_id in [h["id"] for h in hits]
    local = json.loads(_run("search", str(release), word, "--json", "--limit", "100").stdout)["hits"]
    assert [(h["id"], h["score"]) for h in hits] == [(h["id"], h["score"]) for h in local]
    assert f"release fetched from {published['r1']}" in result.stderr


def test_a_cached_file_is_trusted_only_when_its_sha256_matches_the_manifest(s3, published, planted_release, tmp_path):
    _, manifest, _ = planted_release
    uri = published["cached"]
    release = planted_release[0]
    objects = sum(1 for p in release.rglob("*") if p.is_file())
    index_files = len(json.loads((release / "index" / "index.json").read_text())["files"])
    proof_files = len(json.loads((release / "commitments" / "commitments.json").read_text())["files"])
    described = len(manifest["files"]) + len(manifest["descriptions"]) + index_files + proof_files  # with digests
    first = _run("stats", uri)
    assert first.exit_code == 0 and f": {objects} files" in first.stderr and "reused" not in first.stderr
    again = _run("stats", uri)
    assert f": {objects - described} files" in again.stderr  # the manifest, two sidecar JSONs, undescribed files
    assert f"{described} reused from the cache (sha256 matched the manifest)" in again.stderr
    cached = next((tmp_path / "cache").glob(f"*-cached/{_part(manifest, 'documents')}"))
    original = cached.read_bytes()
    cached.chmod(0o644)
    cached.write_bytes(original[:100] + bytes([original[100] ^ 0xFF]) + original[101:])  # same size, one byte
    third = _run("stats", uri)
    assert third.exit_code == 0
    assert f"{described - 1} reused from the cache" in third.stderr  # the edited copy was downloaded again
    assert cached.read_bytes() == original


# ---------------------------------------------------------------------------------------------- a hostile store


def _put(store: pafs.S3FileSystem, key: str, data: bytes) -> None:
    with store.open_output_stream(key) as out:
        out.write(data)


def _undescribed(release: Path) -> list[str]:
    """Files of the local release that neither the manifest nor a sidecar JSON (index/index.json,
    commitments/commitments.json) describes, besides those JSON files themselves (built from the directory and the
    JSON files, not by the code under test)."""
    manifest = json.loads((release / "manifest.json").read_text())
    described = {f["path"] for f in [*manifest["files"], *manifest["descriptions"]]} | {"manifest.json"}
    for sidecar in ("index/index.json", "commitments/commitments.json"):
        directory = sidecar.split("/")[0]
        listed = json.loads((release / sidecar).read_text())["files"]
        described |= {f"{directory}/{f['path']}" for f in listed} | {sidecar}
    files = (p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file())
    return sorted(f for f in files if f not in described)


def _failed_checks(uri: str) -> dict[str, str]:
    result = _run("verify", uri, "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert not report["ok"]
    text = _run("verify", uri)
    assert text.exit_code == 1 and "release does NOT verify" in text.stdout and "release verifies" not in text.stdout
    return {c["name"]: c["detail"] for c in report["checks"] if not c["ok"]}


def test_a_described_object_larger_than_recorded_is_never_downloaded(s3, published, planted_release, tmp_path):
    """A table file padded in the store beyond the bytes the manifest records: `stats` refuses it before reading
    it (one line naming the object), nothing of it reaches the cache, and `verify` fails its files check."""
    _, manifest, _ = planted_release
    uri, part = published["padded"], _part(manifest, "documents")
    recorded = next(f["bytes"] for f in manifest["files"] if f["path"] == part)
    store = _store(s3)
    with store.open_input_stream(f"{BUCKET}/padded/{part}") as stream:
        original = stream.read()
    assert len(original) == recorded
    _put(store, f"{BUCKET}/padded/{part}", original + b"\0" * (3 << 20))  # a huge object, as far as it is asked
    stats = _run("stats", uri)
    _one_line_error(stats, uri, part, f"{recorded + (3 << 20):,} bytes in the store", f"records {recorded:,}",
                    "not downloaded")  # fmt: skip
    assert len(stats.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "cache").rglob(f"{Path(part).name}*"))  # no copy, no temporary part either
    ledger = _part(manifest, "ledger")  # listed after the refused part: still checked
    _flip_middle_byte(store, f"{BUCKET}/padded/{ledger}")
    failed = _failed_checks(uri)
    assert part in failed["files and sha256"] and "not downloaded" in failed["files and sha256"]
    assert f"{part}: missing" not in failed["files and sha256"]  # said as the store holds it
    assert f"{ledger}: sha256 differs from the manifest" in failed["files and sha256"]


def test_reading_stops_past_the_recorded_size_whatever_the_listing_said(tmp_path):
    """A store whose listing under-reports an object's size: the download stops one byte past the recorded size
    and keeps nothing (a real pyarrow filesystem, the local one, serves the bytes)."""
    from pipeline.release_read import remote

    source = tmp_path / "object"
    source.write_bytes(b"x" * (remote.CHUNK + 1000))
    dest = tmp_path / "copy" / "object"
    with pytest.raises(remote._TooLarge) as raised:
        remote._download(pafs.LocalFileSystem(), str(source), dest, None, 100)
    assert raised.value.read == 101  # not a chunk more
    assert not dest.exists() and not list(dest.parent.iterdir())
    assert remote._download(pafs.LocalFileSystem(), str(source), dest, None, remote.CHUNK + 1000)[0] == (
        remote.CHUNK + 1000
    )


def test_many_undescribed_objects_are_refused_over_the_limit(s3, published, planted_release, tmp_path, monkeypatch):
    release = planted_release[0]
    uri, store = published["crowded"], _store(s3)
    extras = [f"extra/junk-{i:02d}.bin" for i in range(12)]
    for key in extras:
        _put(store, f"{BUCKET}/crowded/{key}", b"junk")
    undescribed = sorted(_undescribed(release) + extras)
    assert _run("stats", uri).exit_code == 0  # within the default limit: fetched as before
    monkeypatch.setenv("APERTURA_REMOTE_MAX_UNDESCRIBED_FILES", str(len(undescribed) - 1))
    stats = _run("stats", uri)
    _one_line_error(stats, uri, f"holds {len(undescribed)} files", "APERTURA_REMOTE_MAX_UNDESCRIBED_FILES",
                    f"none downloaded: {', '.join(undescribed[:5])} and {len(undescribed) - 5} more")  # fmt: skip
    assert len(stats.stderr.strip().splitlines()) == 1
    failed = _failed_checks(uri)
    assert list(failed) == ["files and sha256"], failed  # the tables were still fetched and verify
    assert f"holds {len(undescribed)} files" in failed["files and sha256"]
    monkeypatch.setenv("APERTURA_REMOTE_MAX_UNDESCRIBED_FILES", str(len(undescribed)))
    assert _run("stats", uri).exit_code == 0
    monkeypatch.setenv("APERTURA_REMOTE_MAX_UNDESCRIBED_FILES", "many")
    _one_line_error(_run("stats", uri), "APERTURA_REMOTE_MAX_UNDESCRIBED_FILES='many'", "not a non-negative")


def test_a_huge_undescribed_object_is_refused_over_the_byte_limit(s3, published, monkeypatch, tmp_path):
    uri, store = published["bulky"], _store(s3)
    _put(store, f"{BUCKET}/bulky/huge.bin", b"\xff" * 5000)
    monkeypatch.setenv("APERTURA_REMOTE_MAX_UNDESCRIBED_BYTES", "4999")
    stats = _run("stats", uri)
    _one_line_error(stats, uri, "4,999 bytes", "APERTURA_REMOTE_MAX_UNDESCRIBED_BYTES", "huge.bin")
    assert not list((tmp_path / "cache").rglob("huge.bin"))
    failed = _failed_checks(uri)
    assert list(failed) == ["files and sha256"] and "huge.bin" in failed["files and sha256"], failed
    monkeypatch.setenv("APERTURA_REMOTE_MAX_UNDESCRIBED_BYTES", "10000")
    assert _run("stats", uri).exit_code == 0


def test_a_malformed_remote_manifest_is_named_by_its_uri(s3, published, tmp_path):
    uri = published["badmanifest"]
    _put(_store(s3), f"{BUCKET}/badmanifest/manifest.json", b'{"format": "something else"}')
    stats = _run("stats", uri)
    _one_line_error(stats, f"{uri}/manifest.json is not an Apertura release manifest")
    assert str(tmp_path / "cache") not in stats.stderr
    _verify_refuses(uri, f"{uri}/manifest.json is not an Apertura release manifest")


def test_a_reader_error_about_the_local_copy_names_the_uri(s3, published, tmp_path):
    """An error a reader raises about the fetched copy names the release by its URI, never the cache path."""
    uri = published["r1"]
    result = _run("show", uri, "no-such-id")
    _one_line_error(result, f"no document or ledger row with id 'no-such-id' in {uri}")
    assert str(tmp_path / "cache") not in result.stderr.split("\n", 1)[1]  # the first line says where it is


def test_a_listed_file_missing_from_the_store_is_refused(s3, published, planted_release, tmp_path):
    """A part the manifest lists is not in the store: the readers refuse the release in one line naming the URI
    and the part (before: a DuckDB traceback naming the cache), and `verify` fails its files check."""
    _, manifest, _ = planted_release
    uri, part = published["missing"], _part(manifest, "documents")
    _store(s3).delete_file(f"{BUCKET}/missing/{part}")
    for command, extra in (("stats", ()), ("search", ("page",)), ("check", ("--url", "http://example.test/"))):
        result = _run(command, uri, *extra)
        _one_line_error(result, uri, f"lists {part}, which the store does not hold")
        assert len(result.stderr.strip().splitlines()) == 1 and str(tmp_path / "cache") not in result.stderr
    failed = _failed_checks(uri)
    assert f"{part}: missing" in failed["files and sha256"]


# ---------------------------------------------------------------------------------------------- the app


def test_the_app_opens_an_s3_release(s3, published, planted_release, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    from audit_app import queries

    _, manifest, _ = planted_release
    monkeypatch.setenv(queries.DATA_ROOT_ENV, str(tmp_path / "elsewhere"))  # restored after the app changes it
    monkeypatch.setenv("APERTURA_RELEASE", published["r1"])
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "audit_app" / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert at.title[0].value == "Overview"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Documents"] == f"{manifest['counts']['kept']:,}"
    assert metrics["Removed records"] == f"{manifest['counts']['removed']:,}"
    shown = [c.value.replace("\\", "") for c in at.sidebar.caption]  # Markdown escapes removed
    assert f"Fetched from {published['r1']} (every file's sha256 checked against its manifest)" in shown


# ---------------------------------------------------------------------------------------------- errors


def _one_line_error(result, *words: str) -> None:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output and "release verifies" not in result.output
    assert "verify: OK" not in result.output
    message = result.stderr.strip() if result.stderr.strip() else result.stdout.strip()
    for word in words:
        assert word in message, message


def _verify_refuses(uri: str, *words: str) -> None:
    """`verify` fails with its one check, the manifest, saying why (and never that the release verifies)."""
    result = _run("verify", uri, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert not report["ok"] and [c["name"] for c in report["checks"]] == ["manifest"]
    detail = report["checks"][0]["detail"]
    assert detail.startswith(f"cannot fetch the release: {uri}") and "\n" not in detail
    for word in words:
        assert word in detail, detail
    text = _run("verify", uri)
    assert text.exit_code == 1 and "release does NOT verify" in text.stdout and "release verifies" not in text.stdout


def test_clear_errors_for_a_bucket_prefix_or_manifest_that_is_not_there(s3, published):
    store = _store(s3)
    with store.open_output_stream(f"{BUCKET}/notarelease/notes.txt") as out:
        out.write(b"not a release")
    for uri, words in (
        ("s3://no-such-bucket/r1", ("bucket does not exist",)),
        (f"s3://{BUCKET}/nothing-here", ("nothing is there",)),
        (f"s3://{BUCKET}/notarelease", ("is not a release: manifest.json is missing",)),
    ):
        for command in ("stats", "show", "check"):
            extra = {"show": ["some-id"], "check": ["--url", "http://example.test/"], "stats": []}[command]
            result = _run(command, uri, *extra)
            _one_line_error(result, uri, *words)
            assert len(result.stderr.strip().splitlines()) == 1
        _verify_refuses(uri, *words)


def test_clear_errors_for_an_unreachable_endpoint(s3, published, monkeypatch):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    _verify_refuses(published["r1"], f"cannot reach the storage endpoint http://127.0.0.1:{port}")
    stats = _run("stats", published["r1"])
    _one_line_error(stats, "cannot reach the storage endpoint")
    assert len(stats.stderr.strip().splitlines()) == 1


def test_an_unreachable_endpoint_from_the_uri_is_named(s3, published, monkeypatch):
    """`?endpoint_override=` in the URI (pyarrow's own option) is the endpoint the error names, not the
    environment's (still set, to the working server)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"{published['r1']}?endpoint_override=127.0.0.1:{port}&scheme=http"
    _verify_refuses(uri, f"cannot reach the storage endpoint http://127.0.0.1:{port}")
    stats = _run("stats", uri)
    _one_line_error(stats, f"cannot reach the storage endpoint http://127.0.0.1:{port}")
    assert f":{s3}" not in stats.stderr


def test_clear_errors_without_credentials_or_with_unknown_ones(s3, published, monkeypatch):
    """The server requires signed requests by known keys (moto's authentication switched on): a user with keys it
    does not know, and a user with no credentials at all, each get one line saying what to set."""

    def require_auth(count: str) -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{s3}/moto-api/reset-auth", data=count.encode(),
                                         headers={"Content-Type": "text/plain"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    require_auth("0")
    try:
        unknown = _run("stats", published["r1"])
        _verify_refuses(published["r1"], "access denied", "check AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        anonymous = _run("stats", published["r1"])
        _verify_refuses(published["r1"], "no credentials are set")
    finally:
        require_auth("inf")
    _one_line_error(unknown, "access denied", "check AWS_ACCESS_KEY_ID")
    _one_line_error(anonymous, "no credentials are set")
    for result in (unknown, anonymous):
        assert len(result.stderr.strip().splitlines()) == 1


def test_the_app_command_serves_an_s3_release(s3, published, planted_release, tmp_path):
    """`apertura app s3://…` fetches the release, then serves its local copy alone; the page, drawn by a real
    browser, shows the release and says where it was fetched from."""
    import os
    import subprocess
    import sys

    from tests.app.test_browser import CHROMIUM, Browser
    from tests.app.test_cli_app import free_port, wait_healthy

    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no chromium at {CHROMIUM} to draw the page")
    port = free_port()
    command = [sys.executable, "-m", "pipeline.cli", "app", published["r1"], "--port", str(port), "--headless"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    browser = Browser(tmp_path / "chromium")
    try:
        wait_healthy(server, port)
        kept = f"{planted_release[1]['counts']['kept']:,} documents"
        page = browser.render(f"http://127.0.0.1:{port}/", (f"Fetched from {published['r1']}", kept),
                              tmp_path / "overview.png")  # fmt: skip
        assert "Overview" in page["text"]
    finally:
        browser.close()
        os.killpg(server.pid, 15)  # the CLI and the streamlit process it started, nothing else
        output = server.communicate(timeout=20)[0].decode()
    assert f"release fetched from {published['r1']}" in " ".join(output.split())


def test_the_app_command_refuses_a_remote_release_it_cannot_fetch(s3, published):
    result = _run("app", f"s3://{BUCKET}/nothing-here", "--headless")
    _one_line_error(result, "nothing is there")
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_python_api_opens_an_s3_release(s3, published, planted_release):
    from pipeline import Release

    _, manifest, _ = planted_release
    rel = Release.open(published["r1"])
    assert rel.source == published["r1"] and published["r1"] in repr(rel)
    assert rel.documents().collect().height == manifest["counts"]["kept"]
    report = rel.verify()
    assert report.ok and report.release == published["r1"] and report.fetched
