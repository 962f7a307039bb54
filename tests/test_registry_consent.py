"""The registry's consent decisions: one URL identity, values checked at the door, and derive = run.

Ground truth is the construction of `tests.helpers.consent_corpus` (which site and section each page
belongs to, whatever its stored spelling), and for derive = run the other path itself: a fresh
`run --registry` and `release derive --apply-optouts` must keep exactly the same documents.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pipeline.cli import app, build
from pipeline.config import RunConfig
from pipeline.derive import derive_release
from pipeline.optout.registry import ENTRY_SCHEMA, Registry, RegistryError, match
from pipeline.verify import verify_release
from tests.helpers.consent_corpus import consent_corpus, edit_words

runner = CliRunner()
REQUESTER = "Legal <legal@example.org>"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return consent_corpus(tmp_path_factory.mktemp("consent"))


@pytest.fixture(scope="module")
def parent(corpus, tmp_path_factory) -> Path:
    files, _ = corpus
    out = tmp_path_factory.mktemp("parent") / "r0"
    build([str(f) for f in files], RunConfig(), out, index=False)
    return out


def _kept(release: Path) -> pl.DataFrame:
    return pl.read_parquet(release / "documents" / "*.parquet")


def _ids_of(release: Path, urls: set[str]) -> set[str]:
    frame = pl.concat(
        [pl.read_parquet(release / t / "*.parquet").select("id", "url") for t in ("documents", "ledger")]
    )
    return set(frame.filter(pl.col("url").is_in(list(urls)))["id"])


# Spellings a rights holder might type for one entry; each must remove what the plain spelling removes.
PREFIX_SPELLINGS = [
    "https://alpha.test/paywall/",
    "http://alpha.test/paywall/",
    "https://ALPHA.Test/paywall/",
    "https://alpha.test:443/paywall/",
    "http://alpha.test:80/%70aywall/",
    "https://alpha.test./paywall/",
    "alpha.test/paywall/",
]
DOMAIN_SPELLINGS = ["alpha.test", "ALPHA.TEST", "www.alpha.test", "alpha.test.", "https://alpha.test:443/any/page"]


@pytest.mark.parametrize("spelling", PREFIX_SPELLINGS)
def test_a_url_prefix_covers_every_spelling_of_its_urls(corpus, parent, tmp_path, spelling):
    _, planted = corpus
    registry = Registry(tmp_path / "registry")
    registry.add("url_prefix", spelling, requester=REQUESTER)
    wanted = {p.stored_url for p in planted if p.site == "alpha.test" and p.section == "paywall"}
    child = derive_release(parent, tmp_path / "r1", registry=registry)
    gone = set(_kept(parent)["id"]) - set(_kept(tmp_path / "r1")["id"])
    assert gone == _ids_of(parent, wanted) & set(_kept(parent)["id"])
    assert len(wanted) == 3 and child["counts"]["removed_by_stage"]["optout"]["optout_registry"] == len(gone)
    assert verify_release(tmp_path / "r1", tmp_path / "registry").ok
    assert not verify_release(parent, tmp_path / "registry").ok  # the parent still holds them


@pytest.mark.parametrize("spelling", DOMAIN_SPELLINGS)
def test_a_domain_covers_every_spelling_of_its_hosts(corpus, parent, tmp_path, spelling):
    _, planted = corpus
    registry = Registry(tmp_path / "registry")
    entry = registry.add("domain", spelling, requester=REQUESTER)
    assert entry.value == "alpha.test"  # shown as stored
    derive_release(parent, tmp_path / "r1", registry=registry)
    wanted = _ids_of(parent, {p.stored_url for p in planted if p.site == "alpha.test"})
    assert set(_kept(parent)["id"]) - set(_kept(tmp_path / "r1")["id"]) == wanted & set(_kept(parent)["id"])
    assert wanted and not wanted & set(_kept(tmp_path / "r1")["id"])


def test_a_domain_covers_its_subdomains(corpus, parent, tmp_path):
    _, planted = corpus
    registry = Registry(tmp_path / "registry")
    registry.add("domain", "epsilon.test", requester=REQUESTER)
    derive_release(parent, tmp_path / "r1", registry=registry)
    on_subdomain = _ids_of(parent, {p.stored_url for p in planted if "//shop.epsilon.test/" in p.stored_url})
    assert on_subdomain and on_subdomain <= set(_kept(parent)["id"])  # kept before, by construction an original
    wanted = _ids_of(parent, {p.stored_url for p in planted if p.site == "epsilon.test"})
    assert set(_kept(parent)["id"]) - set(_kept(tmp_path / "r1")["id"]) == wanted & set(_kept(parent)["id"])
    assert verify_release(tmp_path / "r1", tmp_path / "registry").ok
    assert not verify_release(parent, tmp_path / "registry").ok


def test_a_url_without_an_identity_is_covered_by_its_spelling(tmp_path):
    """A record whose URL has no identity (a broken host straight from a WARC) is matched on its `domain` and
    URL text, so it is never covered by less than its spelling says: subdomains included."""
    registry = Registry(tmp_path / "registry")
    registry.add("domain", "alpha.test", requester=REQUESTER)
    rows = [("on-domain", "http://[x/a", "alpha.test"), ("on-subdomain", "http://[x/b", "news.alpha.test"),
            ("elsewhere", "http://[x/c", "notalpha.test"), ("no-domain", "http://[x/d", None)]  # fmt: skip
    frame = pl.DataFrame(
        [{"id": i, "url": u, "domain": d, "norm_sha256": None, "minhash": None} for i, u, d in rows],
        schema={"id": pl.String, "url": pl.String, "domain": pl.String, "norm_sha256": pl.String,
                "minhash": pl.List(pl.UInt32)},
    )  # fmt: skip
    hits = match(frame, registry.effective())
    assert sorted(hits["id"]) == ["on-domain", "on-subdomain"]


def test_a_domain_with_a_port_covers_that_port_only(corpus, parent, tmp_path):
    _, planted = corpus
    registry = Registry(tmp_path / "registry")
    assert registry.add("domain", "delta.test:8080", requester=REQUESTER).value == "delta.test:8080"
    derive_release(parent, tmp_path / "r1", registry=registry)
    kept_after = set(_kept(tmp_path / "r1")["id"])
    on_port = _ids_of(parent, {p.stored_url for p in planted if p.site == "delta.test:8080"})
    off_port = _ids_of(parent, {p.stored_url for p in planted if p.site == "delta.test"})
    assert on_port and not on_port & kept_after
    assert off_port & set(_kept(parent)["id"]) <= kept_after


def test_an_idna_domain_in_unicode_covers_its_punycode_urls(corpus, parent, tmp_path):
    _, planted = corpus
    registry = Registry(tmp_path / "registry")
    assert registry.add("domain", "BÜCHER.test", requester=REQUESTER).value == "xn--bcher-kva.test"
    derive_release(parent, tmp_path / "r1", registry=registry)
    wanted = _ids_of(parent, {p.stored_url for p in planted if p.site == "xn--bcher-kva.test"})
    assert wanted and not wanted & set(_kept(tmp_path / "r1")["id"])


# --- values checked at the door -------------------------------------------------------------------


def test_effective_from_is_an_instant(tmp_path):
    registry = Registry(tmp_path / "registry")
    now = registry.add("domain", "a.test", requester=REQUESTER, effective_from="now")
    assert now.effective_from.endswith("Z") and now.effective_from[:4].isdigit()
    assert [e.entry_id for e in registry.effective()] == [now.entry_id]
    offset = registry.add("domain", "b.test", requester=REQUESTER, effective_from="2026-01-01T01:00:00+01:00")
    assert offset.effective_from == "2026-01-01T00:00:00.000000Z"
    later = registry.add("domain", "c.test", requester=REQUESTER, effective_from="2999-01-01T00:00:00Z")
    in_force = {e.value for e in registry.effective()}
    assert in_force == {"a.test", "b.test"} and later.value not in in_force
    # compared as instants, not as text: in an hour, written at UTC-05:00, reads as earlier than now; an hour
    # ago, written at UTC+05:00, reads as later than now
    hour, now_dt = timedelta(hours=1), datetime.now(UTC)
    soon = (now_dt + hour).astimezone(timezone(-5 * hour)).isoformat()
    past = (now_dt - hour).astimezone(timezone(5 * hour)).isoformat()
    registry.add("domain", "soon.test", requester=REQUESTER, effective_from=soon)
    registry.add("domain", "past.test", requester=REQUESTER, effective_from=past)
    in_force = {e.value for e in registry.effective()}
    assert "past.test" in in_force and "soon.test" not in in_force


@pytest.mark.parametrize("bad", ["tomorrow", "2026-13-01T00:00:00Z", "2026-12-05T10:00:00", ""])
def test_a_bad_effective_from_is_refused_with_one_line(tmp_path, bad):
    result = runner.invoke(app, ["optout", "add", "--domain", "a.test", "--requester", REQUESTER,
                                 "--effective-from", bad, "--registry", str(tmp_path / "registry")])  # fmt: skip
    if bad == "":  # an empty option is the default: now
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "effective_from" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "registry" / "entries").exists() or not list((tmp_path / "registry" / "entries").iterdir())


@pytest.mark.parametrize(
    ("option", "value"),
    [("--domain", "<img src=x onerror=alert(1)>"), ("--domain", "co.uk"), ("--url-prefix", "ftp://a.test/x"),
     ("--url-prefix", "http://exa mple.org/")],
)  # fmt: skip
def test_bad_domains_and_prefixes_are_refused_with_one_line(tmp_path, option, value):
    result = runner.invoke(
        app, ["optout", "add", option, value, "--requester", REQUESTER, "--registry", str(tmp_path / "reg")]
    )
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("error: ")


def test_the_stored_form_is_shown(tmp_path):
    result = runner.invoke(app, ["optout", "add", "--url-prefix", "HTTPS://News.Example.CH:443/%70aywall/",
                                 "--requester", REQUESTER, "--registry", str(tmp_path / "reg")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "https://news.example.ch/paywall/" in result.output


def _write_entry(registry: Path, name: str, drop: str | list[str] | None = None, **changes) -> None:
    row = {"entry_id": "opt-000000000001", "kind": "domain", "value": "a.test", "minhash": None,
           "requester": REQUESTER, "note": "", "received_at": "2026-01-01T00:00:00.000000Z",
           "effective_from": "2026-01-01T00:00:00.000000Z", "request_id": None}  # fmt: skip
    frame = pl.DataFrame([row | changes], schema=ENTRY_SCHEMA)
    (registry / "entries").mkdir(parents=True, exist_ok=True)
    (frame.drop(drop) if drop else frame).write_parquet(registry / "entries" / f"{name}.parquet")


MALFORMED = {
    "missing-column": {"drop": ["effective_from", "note"]},
    "unknown-kind": {"kind": "regex"},
    "short-minhash": {"kind": "text", "value": "ab" * 32, "minhash": [1, 2, 3]},
    "bad-instant": {"effective_from": "soon"},
    "bad-received": {"received_at": "yesterday"},
    "bad-domain": {"value": "exa mple.org"},
    "bad-prefix": {"kind": "url_prefix", "value": "http://exa mple.org/"},
    "no-id": {"entry_id": ""},
    "no-value": {"value": ""},
}
PERMUTATIONS = RunConfig().dedup.bands * RunConfig().dedup.rows_per_band
SAYS = {  # what the one line says is wrong, after the file's name
    "missing-column": "missing column(s) note, effective_from",
    "unknown-kind": "unknown kind 'regex' (known: domain, url_prefix, text)",
    "short-minhash": f"opt-000000000001: the text's MinHash has 3 values, not {PERMUTATIONS}",
    "bad-instant": "opt-000000000001: effective_from 'soon' is not an ISO 8601 date-time",
    "bad-received": "opt-000000000001: received_at 'yesterday' is not an ISO 8601 date-time",
    "bad-domain": "opt-000000000001: ",
    "bad-prefix": "opt-000000000001: not a URL prefix (it must start with http:// or https:// and a host): "
    "'http://exa mple.org/'",
    "no-id": "a row without entry_id",
    "no-value": "opt-000000000001: no value",
}


@pytest.mark.parametrize("case", [*MALFORMED, "not-parquet"])
def test_a_malformed_registry_stops_run_verify_and_list_with_one_line(case, corpus, parent, tmp_path):
    registry = tmp_path / "registry"
    if case == "not-parquet":
        (registry / "entries").mkdir(parents=True)
        (registry / "entries" / f"{case}.parquet").write_bytes(b"PAR1 not really")
    else:
        _write_entry(registry, case, **MALFORMED[case])
    for args in (
        ["optout", "list", "--registry", str(registry)],
        ["optout", "check", "--domain", "a.test", "--registry", str(registry)],
        ["run", str(corpus[0][0]), "--out", str(tmp_path / "r"), "--registry", str(registry)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert f"{case}.parquet" in result.output and result.output.count("\n") == 1, result.output
        assert "Traceback" not in result.output
    report = verify_release(parent, registry)
    failed = [c for c in report.checks if not c.ok]
    assert len(failed) == 1 and f"{case}.parquet" in failed[0].detail
    if case == "not-parquet":  # the reader's own first line says why
        with pytest.raises(Exception) as err:
            pl.read_parquet(registry / "entries" / f"{case}.parquet")
        says = f"unreadable ({str(err.value).splitlines()[0][:200]})"
    else:
        says = SAYS[case]
    assert f"registry file {registry / 'entries' / case}.parquet: {says}" in failed[0].detail


def test_legacy_effective_from_now_means_received(tmp_path):
    """Before 2026-12 `--effective-from now` was stored as the text 'now', and never took effect."""
    _write_entry(tmp_path / "registry", "legacy", effective_from="now")
    assert [e.value for e in Registry(tmp_path / "registry").effective()] == ["a.test"]


def test_registry_error_names_a_missing_column_or_one_of_another_type(tmp_path):
    _write_entry(tmp_path / "registry", "x", drop="kind")
    with pytest.raises(RegistryError, match="missing column"):
        Registry(tmp_path / "registry").entries()
    _write_entry(tmp_path / "other", "y")
    path = tmp_path / "other" / "entries" / "y.parquet"
    pl.read_parquet(path).with_columns(minhash=pl.lit("not a list")).write_parquet(path)
    with pytest.raises(RegistryError) as err:
        Registry(tmp_path / "other").entries()
    assert str(err.value) == f"registry file {path}: a column has the wrong type"


# --- derive = run -------------------------------------------------------------------------------------


def _entry_choices(planted) -> list[tuple[str, str | int]]:
    """(kind, value) candidates: every site as a domain, every section as a URL prefix (in a stored spelling),
    and every text, with 0-20 words changed (exact copy, near copy, unrelated)."""
    domains = sorted({p.site for p in planted})
    prefixes = sorted({p.stored_url.rsplit("/", 1)[0] + "/" for p in planted})
    texts = [(i, n) for i in range(len(planted)) for n in (0, 3, 8, 20)]
    return [("domain", d) for d in domains] + [("url_prefix", p) for p in prefixes] + [("text", t) for t in texts]


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(picks=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=3))
def test_derive_removes_exactly_what_a_fresh_run_removes(corpus, parent, tmp_path_factory, picks):
    files, planted = corpus
    choices = _entry_choices(planted)
    tmp = tmp_path_factory.mktemp("prop")
    registry = Registry(tmp / "registry")
    for pick in picks:
        kind, value = choices[pick % len(choices)]
        if kind == "text":
            index, changed = value
            registry.add("text", requester=REQUESTER, text=edit_words(planted[index].text, changed, salt=99))
        else:
            registry.add(kind, value, requester=REQUESTER)
    fresh = tmp / "fresh"
    build([str(f) for f in files], RunConfig(), fresh, registry=tmp / "registry", index=False)
    derived = tmp / "derived"
    derive_release(parent, derived, registry=registry)
    assert set(_kept(derived)["id"]) == set(_kept(fresh)["id"]), picks
    for release in (fresh, derived):
        report = verify_release(release, tmp / "registry")
        assert report.ok, [c for c in report.checks if not c.ok]
    manifest = json.loads((fresh / "manifest.json").read_text())
    assert manifest["counts"]["kept"] == _kept(derived).height


def test_a_release_names_the_entry_that_removed_a_record_never_who_opted_out(corpus, tmp_path):
    """The requester's name and contact stay in the registry: a release (ledger detail, evidence rule) is
    published, and names only the entry."""
    files, _ = corpus
    registry = Registry(tmp_path / "registry")
    entry = registry.add("domain", "alpha.test", requester="Jane Roe <jane.roe@alpha.test>")
    out = tmp_path / "r"
    build([str(f) for f in files], RunConfig(), out, registry=tmp_path / "registry", index=False)
    ledger = pl.read_parquet(out / "ledger" / "*.parquet").filter(pl.col("reason") == "optout_registry")
    assert ledger.height and all(entry.entry_id in d for d in ledger["detail"])
    # each removal's evidence row says the registry decided and names the entry (schemas/optout_evidence.v1.json)
    evidence = pl.read_parquet(out / "optout_evidence" / "*.parquet").filter(pl.col("kind") == "document")
    by_registry = evidence.filter(pl.col("document_id").is_in(ledger["id"].implode()))
    assert sorted(by_registry["document_id"]) == sorted(ledger["id"])
    assert by_registry.select("signal", "verdict", "rule", "raw", "source_id", "source_file").unique().rows() == [
        ("registry", "reserved", entry.describe(), entry.entry_id, entry.entry_id, str(tmp_path / "registry"))]
    assert by_registry.select("agents", "raw_sha256", "fetched_at").null_count().row(0) == (ledger.height,) * 3
    for path in out.rglob("*"):
        if not path.is_file():
            continue
        parquet = path.suffix == ".parquet"
        text = str(pq.read_table(path).to_pylist()) if parquet else path.read_bytes().decode("latin-1")
        assert "jane.roe@alpha.test" not in text and "Jane Roe" not in text, path
