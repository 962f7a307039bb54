"""Every figure of the EU AI Act summary against an independent count: Polars over the same Parquet,
the pipeline's own manifest, or what the test corpus was built to contain."""

from __future__ import annotations

import math
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from pipeline.release import load_manifest
from pipeline.reports.eu_summary import EUSummary, SummaryOptions, build_summary, summary_html, summary_markdown
from pipeline.reports.eu_summary.cache import cached_summary
from pipeline.reports.eu_summary.inputs import classify
from tests.reports.conftest import CRAWLER, HOSTILE_HOST, HOSTILE_UA, N_DOMAINS, copy_release

DATE = "2026-11-25"


def table(release: Path, name: str) -> pl.DataFrame:
    manifest = load_manifest(release)
    return pl.read_parquet([release / f["path"] for f in manifest["files"] if f["table"] == name])


def by_bytes(frame: pl.DataFrame, key: str) -> list[tuple[str, int, int]]:
    """(key, documents, text bytes) sorted as the summary sorts: most bytes first, then by name."""
    grouped = frame.group_by(key).agg(n=pl.len(), b=pl.col("text").str.len_bytes().sum())
    return [(k, n, b) for k, n, b in grouped.sort(["b", key], descending=[True, False]).iter_rows()]


@pytest.fixture(scope="module")
def web(web_release) -> tuple[EUSummary, pl.DataFrame, Path, Path]:
    release, warc, dataset = web_release
    return build_summary(release, SummaryOptions(last_update=DATE)), table(release, "documents"), warc, dataset


@pytest.fixture(scope="module")
def demo(demo_release) -> EUSummary:
    return build_summary(demo_release[0], SummaryOptions(last_update=DATE))


def test_totals_and_languages_match_polars(web):
    s, docs, _, _ = web
    t = s.general.totals
    words = docs["word_count"].sum()
    assert (t.documents, t.words, t.text_bytes) == (docs.height, words, docs["text"].str.len_bytes().sum())
    assert t.tokens_estimate == round(words * 1.3)
    assert s.general.size_bin == "Less than 1 billion tokens"
    assert [(x.name, x.documents, x.text_bytes) for x in s.general.languages] == by_bytes(docs, "language")
    assert sum(x.share for x in s.general.languages) == pytest.approx(1.0)
    assert s.general.modalities == ["text"]


def test_top_ten_percent_of_crawled_domains_by_text_bytes(web):
    s, docs, warc, _ = web
    crawled = s.section("crawled")
    expected = by_bytes(docs.filter(pl.col("file_path") == str(warc)), "domain")
    assert crawled.domains_total == len(expected) == N_DOMAINS + 1  # 30 sites and the hostile host
    k = math.ceil(len(expected) * 0.10)
    assert k == 4
    assert [(x.name, x.documents, x.text_bytes) for x in crawled.top_domains] == expected[:k]
    assert crawled.top_domains[0].name == HOSTILE_HOST  # built as the largest site
    total = sum(b for _, _, b in expected)
    assert crawled.top_domains[0].share == pytest.approx(expected[0][2] / total)


def test_inputs_can_stay_unread(web_release):
    """Where the manifest is not trusted (the app), input files are not opened: the crawler is then unknown."""
    s = build_summary(web_release[0], SummaryOptions(inspect_inputs=False, last_update=DATE))
    assert not s.section("crawled").used
    warc = next(i for i in s.section("other").inputs if i.format == "warc")
    assert "not read" in warc.basis


def test_sme_rule_lists_top_five_percent(web_release):
    s = build_summary(web_release[0], SummaryOptions(sme=True, last_update=DATE))
    assert len(s.section("crawled").top_domains) == math.ceil((N_DOMAINS + 1) * 0.05) == 2


def test_sources_crawler_and_periods(web):
    s, docs, warc, dataset = web
    crawled, public = s.section("crawled"), s.section("public")
    assert [i.path for i in crawled.inputs] == [str(warc)]
    assert [(c.software, c.user_agent) for c in crawled.crawlers] == [(CRAWLER, HOSTILE_UA)]
    # Dates as the corpus was built: months 1..12 by site, day = page number + 1.
    assert (crawled.totals.first_date, crawled.totals.last_date) == ("2025-01-01T10:00:00Z", "2025-12-03T10:00:00Z")
    assert [i.path for i in public.inputs] == [str(dataset)] and public.inputs[0].dataset == "dataset.jsonl"
    assert public.totals.documents == 4
    assert (public.totals.first_date, public.totals.last_date) == ("2024-03-01T00:00:00Z", "2024-03-04T00:00:00Z")
    assert s.general.totals.last_date == "2025-12-03T10:00:00Z"
    assert sum(sec.totals.documents for sec in s.sources) == docs.height
    assert {sec.category for sec in s.sources if not sec.used} == {"private", "user", "synthetic", "other"}


def test_planted_corpus_counts_as_constructed(planted_release):
    release, _, expect = planted_release
    s = build_summary(release, SummaryOptions(last_update=DATE))
    kept = [e for e in expect.values() if e.stage is None]
    removed = [e for e in expect.values() if e.stage is not None]
    assert s.general.totals.documents == len(kept)
    assert {x.name: x.documents for x in s.general.languages} == Counter(e.language for e in kept)
    assert {(r.stage, r.reason): r.records for r in s.removal.reasons} == Counter((e.stage, e.reason) for e in removed)
    stages = {x.stage: x.removed for x in s.removal.stages}
    assert {k: v for k, v in stages.items() if v} == Counter(e.stage for e in removed)
    assert s.removal.records_in == len(expect) and s.removal.documents_out == len(kept)
    pii = s.removal.pii
    assert (pii.emails, pii.ip_addresses, pii.ibans) == tuple(map(sum, zip(*(e.pii for e in kept), strict=True)))
    assert pii.documents_with_pii == sum(1 for e in kept if any(e.pii))


def test_optout_figures_match_ledger_evidence_and_manifest(demo, demo_release):
    release = demo_release[0]
    manifest = load_manifest(release)
    ledger, evidence = table(release, "ledger"), table(release, "optout_evidence")
    tdm = demo.tdm
    by_reason = dict(ledger.filter(pl.col("stage") == "optout").group_by("reason").len().iter_rows())
    assert {c.name: c.count for c in tdm.removed_by_signal} == by_reason == manifest["optout"]["removed_by_signal"]
    assert tdm.removed == sum(by_reason.values()) == manifest["optout"]["removed"] > 0
    reserved = evidence.filter((pl.col("kind") == "document") & (pl.col("verdict") == "reserved"))
    per_signal = reserved.group_by("signal").agg(pl.col("document_id").n_unique())
    assert {c.name: c.count for c in tdm.signals} == dict(per_signal.iter_rows())
    per_agent = reserved.explode("agents").group_by("agents").agg(pl.col("document_id").n_unique())
    assert {c.name: c.count for c in tdm.reserved_by_agent} == dict(per_agent.iter_rows())
    files = evidence.filter(pl.col("kind") == "policy_file")
    assert {(f.file, f.outcome): f.fetches for f in tdm.policy_files} == {
        (sig, verdict): n for sig, verdict, n in files.group_by("signal", "verdict").len().iter_rows()
    }
    assert sum(f.fetches for f in tdm.policy_files) == manifest["optout"]["policy_files"]
    assert tdm.origins_with_policy_files == files["origin"].n_unique() == manifest["optout"]["origins"]
    assert tdm.agents == manifest["optout"]["agents"] and tdm.snapshots == []
    assert (tdm.violations, tdm.removals_without_evidence, tdm.check_passed) == (0, 0, True)


def test_funnel_and_crawl_of_the_demo(demo, demo_release):
    release, crawl = demo_release
    manifest = load_manifest(release)
    assert [(x.stage, x.records_in, x.removed, x.records_out) for x in demo.removal.stages] == [
        (x["stage"], x["in"], x["removed"], x["out"]) for x in manifest["counts"]["stages"]
    ]
    ledger = table(release, "ledger")
    assert {(r.stage, r.reason): r.records for r in demo.removal.reasons} == {
        (st, rs): n for st, rs, n in ledger.group_by("stage", "reason").len().iter_rows()
    }
    assert demo.removal.stages_match_ledger and all(x.ledger_stage == x.stage for x in demo.removal.stages)
    crawled = demo.section("crawled")
    crawl_files = sorted(str(p) for p in crawl.glob("*.warc.gz"))
    assert sorted(i.path for i in crawled.inputs) == crawl_files
    assert [c.user_agent.split("/")[0] for c in crawled.crawlers] == ["AperturaBot"]
    docs = table(release, "documents").filter(pl.col("file_path").is_in(crawl_files))
    dates = docs.select(pl.col("date").str.to_datetime(time_zone="UTC"))["date"]
    assert crawled.totals.first_date == dates.min().strftime("%Y-%m-%dT%H:%M:%SZ")
    assert crawled.totals.last_date == dates.max().strftime("%Y-%m-%dT%H:%M:%SZ")
    assert crawled.totals.documents == docs.height
    # The sample WARCs in data/ carry no crawler identification: "other sources", said why.
    other = demo.section("other")
    assert other.used and all("does not identify a crawler" in i.basis for i in other.inputs)


def test_a_kept_document_with_a_reservation_fails_the_check(demo_release, tmp_path):
    """Plant a reserved decision about a kept document (as a faulty pipeline would leave it)."""
    release = copy_release(demo_release[0], tmp_path / "tampered")
    manifest = load_manifest(release)
    path = release / next(f["path"] for f in manifest["files"] if f["table"] == "optout_evidence")
    evidence = pl.read_parquet(path)
    kept_id = table(release, "documents")["id"][0]
    planted = evidence.filter(pl.col("verdict") == "reserved").head(1).with_columns(document_id=pl.lit(kept_id))
    pl.concat([evidence, planted]).write_parquet(path)
    s = build_summary(release, SummaryOptions(last_update=DATE))
    assert (s.tdm.violations, s.tdm.check_passed) == (1, False)
    assert "- **Zero-violations check:** FAILED" in summary_markdown(s)


def test_derived_release_shows_registry_lineage_and_the_derive_stage(demo_release, tmp_path):
    """A rights holder opts a domain out after the release; `release derive` applies it retroactively."""
    from pipeline.cli import app

    parent, registry, child = demo_release[0], tmp_path / "registry", tmp_path / "child"
    runner = CliRunner()
    added = runner.invoke(app, ["optout", "add", "--registry", str(registry), "--domain", "eco-della-valle.test",
                                "--requester", "Eco della Valle <legal@eco.test>"])
    assert added.exit_code == 0, added.output
    derived = runner.invoke(app, ["release", "derive", str(parent), "--out", str(child), "--apply-optouts",
                                  "--registry", str(registry)])
    assert derived.exit_code == 0, derived.output
    parent_docs = table(parent, "documents")
    gone = parent_docs.filter(pl.col("domain") == "eco-della-valle.test").height
    assert gone > 0
    s = build_summary(child, SummaryOptions(last_update=DATE))
    assert s.general.totals.documents == parent_docs.height - gone
    assert s.tdm.registry_removed == gone and s.tdm.registry["entries"] == 1
    assert {c.name: c.count for c in s.tdm.removed_by_signal}["optout_registry"] == gone
    assert s.tdm.lineage["parent"]["release_id"] == "demo" and s.tdm.check_passed
    last = s.removal.stages[-1]
    assert (last.stage, last.ledger_stage, last.removed, last.records_out) == ("derive", "optout", gone,
                                                                               s.general.totals.documents)
    assert s.removal.stages_match_ledger
    optout_stage = next(x for x in s.removal.stages if x.stage == "optout")
    assert optout_stage.removed == load_manifest(parent)["optout"]["removed"]  # the crawl-time removals only
    md = summary_markdown(s)
    assert "- **Parent release:** demo" in md and "| derive | " in md


def test_json_round_trips(web):
    s = web[0]
    again = EUSummary.model_validate_json(s.to_json())
    assert again == s
    assert summary_markdown(again) == summary_markdown(s) and summary_html(again) == summary_html(s)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)


def test_html_and_markdown_escape_hostile_text(web_release):
    hostile = "<img src=x onerror=alert(1)> ACME <script>alert('p')</script>"
    s = build_summary(web_release[0], SummaryOptions(provider=hostile, model="m [x](javascript:alert(1))",
                                                     last_update=DATE))
    page = summary_html(s)
    parser = _Tags()
    parser.feed(page)
    assert parser.tags <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "h4", "p", "dl",
                           "dt", "dd", "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "em"}
    assert not {a for a in parser.attrs if a in ("src", "href") or a.startswith("on")}
    assert "x&quot;onmouseover=alert(1)&amp;amp;&#x27;.test" in page  # the hostile domain, shown as text
    assert "&lt;script&gt;alert(&quot;ua&quot;)&lt;/script&gt;" in page  # the crawler's user agent
    assert "&lt;img src=x onerror=alert(1)&gt; ACME" in page
    md = summary_markdown(s)
    assert "<script" not in md and "<img" not in md and "[x](javascript" not in md and "\\[x\\](javascript" in md
    assert "x\"onmouseover=alert(1)&amp;amp;'.test" in md  # an entity in Markdown is escaped too


def test_placeholders_until_the_provider_fills_them(web_release):
    bare = summary_markdown(build_summary(web_release[0], SummaryOptions(last_update=DATE)))
    for option in ("provider", "model", "placement-date", "code-of-practice", "illegal-content-measures"):
        assert f"give --{option}" in bare
    filled = summary_markdown(build_summary(
        web_release[0],
        SummaryOptions(provider="ACME AG, legal@acme.example", model="Acme-7B v1", placement_date="2026-12-01",
                       code_of_practice_signatory="Yes", last_update=DATE),
    ))
    assert "ACME AG, legal@acme.example" in filled and "Acme-7B v1" in filled and "2026-12-01" in filled
    assert "give --provider" not in filled and "give --model\\]" not in filled and "give --code-of" not in filled
    for heading in ("1.1. Provider identification", "2.3. Data crawled and scraped from online sources",
                    "3.1. Respect of reservation of rights from text and data mining exception or limitation",
                    "3.2. Removal of illegal content"):
        assert heading in filled


ENTRY = {"sha256": "0" * 64, "bytes": 1, "eligible": 1}


@pytest.mark.parametrize(
    ("path", "fmt", "info", "overrides", "category"),
    [
        ("cc.warc.gz", "warc", {"isPartOf": "CC-MAIN-2024-10", "publisher": "Common Crawl"}, {}, "public"),
        ("s3/crawl-data/CC-MAIN-2024-10/x.warc.wet.gz", "wet", None, {}, "public"),
        ("rows.parquet", "parquet", None, {}, "public"),
        ("ours.warc.gz", "warc", {"http-header-user-agent": "Bot/1"}, {}, "crawled"),
        ("old.arc.gz", "arc", None, {}, "other"),
        ("licensed/news.jsonl", "jsonl", None, {"licensed/*": "private"}, "private"),
    ],
)
def test_inputs_sorted_into_template_categories(path, fmt, info, overrides, category):
    source = classify({"path": path, "format": fmt, **ENTRY}, info, overrides)
    assert source.category == category and source.basis
    if path == "cc.warc.gz":
        assert source.dataset == "CC-MAIN-2024-10"
    if path == "old.arc.gz":  # not on this machine: said so, not guessed
        assert "not readable here" in source.basis


def test_constants_mirror_the_pipeline_and_the_app_can_import_reports():
    """Reports stay importable without the pipeline's executors and steps (the app's rule, DESIGN.md)."""
    import subprocess
    import sys

    from pipeline.derive import DERIVE_STAGE
    from pipeline.optout.registry import REASON
    from pipeline.release import REGISTRY_STAGE
    from pipeline.reports.eu_summary import compute

    assert compute.REGISTRY_REASON == REASON
    assert set(compute.BOOKKEEPING_STAGES) == {REGISTRY_STAGE, DERIVE_STAGE}
    code = (
        "import sys, pipeline.reports.eu_summary, pipeline.reports.croissant, pipeline.reports.datasheet, "
        "pipeline.reports.cli; print(sorted(m for m in sys.modules if m.startswith('pipeline')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pipeline.steps" not in loaded and "pipeline.executors" not in loaded and "pipeline.release'" not in loaded


# ---- the summary kept in the user's cache follows what it was computed from ----------------------------------------


def test_a_kept_summary_follows_its_inputs_moved_away_and_back(web_release, tmp_path, monkeypatch):
    """The crawled/other split reads each input's warcinfo: a summary kept while the WARC was there is not the
    answer once it is gone (its crawler is then unknown), and is again once it is back."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    release, warc, _ = web_release
    options = SummaryOptions(last_update=DATE)
    assert options.inspect_inputs

    def crawled() -> list[str]:
        return [i.path for i in cached_summary(release, options).section("crawled").inputs]

    assert crawled() == [str(warc)]
    moved = warc.with_name("moved-away.warc.gz")
    warc.rename(moved)
    try:
        assert crawled() == []
        assert cached_summary(release, options).model_dump() == build_summary(release, options).model_dump()
    finally:
        moved.rename(warc)
    assert crawled() == [str(warc)]


def test_a_kept_summary_follows_a_table_file_changed_under_the_same_manifest(web_release, tmp_path, monkeypatch):
    """The manifest vouches for the tables but the summary reads the files: one rewritten in place (verify would
    fail it) is summarised as it is now, not answered from what it held when the summary was kept."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    release = copy_release(web_release[0], tmp_path / "web")
    options = SummaryOptions(inspect_inputs=False, last_update=DATE)
    before = cached_summary(release, options).general.totals.documents
    part = next(release / f["path"] for f in load_manifest(release)["files"] if f["table"] == "documents")
    rows = pl.read_parquet(part)
    rows.head(rows.height // 2).write_parquet(part)
    after = cached_summary(release, options).general.totals.documents
    assert after == before - (rows.height - rows.height // 2) == table(release, "documents").height
