"""The dedup explorer on the real test release: the planted corpus has exactly one exact and one near
duplicate (tests/helpers/corpus.py); both clusters appear with their keeper URL, reason and similarity."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest
from streamlit.testing.v1 import AppTest

from audit_app import queries
from tests.app.test_pages import assert_no_raw_html, texts

APP = Path(__file__).resolve().parents[2] / "audit_app"
EXACT = ("http://en.news.test/article/0", "http://mirror.test/copy-of-en-0", "dedup_exact")
NEAR = ("http://de.news.test/article/1", "http://mirror.test/near-copy-of-de-1", "dedup_near")


def planted_dedup(expect) -> list[tuple[str, str, str]]:
    """(keeper URL, removed URL, reason) of every planted duplicate."""
    return sorted((e.duplicate_of, url, e.reason) for url, e in expect.items() if getattr(e, "stage", None) == "dedup")


def test_planted_corpus_has_one_exact_and_one_near_pair(app_release):
    assert planted_dedup(app_release[3]) == sorted([EXACT, NEAR])


def test_dedup_queries(rel):
    summary = queries.dedup_summary(rel)
    assert summary == {"clusters": 2, "removed": 2, "exact": 1, "near": 1, "largest": 2}
    assert queries.dedup_sizes(rel).rows() == [(2, 2)]
    clusters = queries.dedup_clusters(rel)
    assert sorted(clusters["keeper_url"]) == sorted([EXACT[0], NEAR[0]])
    for keeper_url, removed_url, reason in (EXACT, NEAR):
        row = clusters.row(clusters["keeper_url"].to_list().index(keeper_url), named=True)
        assert (row["size"], row["removed"]) == (2, 1)
        assert row["exact" if reason == "dedup_exact" else "near"] == 1
        members = queries.dedup_members(rel, row["cluster_id"])
        assert members["role"].to_list() == ["keeper", "removed"]
        assert members["url"].to_list() == [keeper_url, removed_url]
        assert members["reason"][1] == reason
        jaccard = members["estimated_jaccard"][1]
        if reason == "dedup_exact":
            assert jaccard == 1.0
        else:
            assert 0.7 <= jaccard < 1.0 and f"estimated jaccard {jaccard:.2f}" in members["detail"][1]
        pair = queries.dedup_texts(rel, row["cluster_id"], members["id"][1])
        assert pair["found"] and pair["keeper_url"] == keeper_url and pair["member_url"] == removed_url
        assert (pair["keeper_text"] == pair["member_text"]) == (reason == "dedup_exact")
        assert "Zwischenbemerkung" in pair["member_text"] or reason == "dedup_exact"
    hostile = "' OR 1=1 --"
    assert queries.dedup_members(rel, hostile).height == 0
    assert not queries.dedup_texts(rel, hostile, hostile)["found"]


def test_dedup_page_shows_both_planted_clusters(app_env):
    at = AppTest.from_file(str(APP / "views" / "dedup.py"), default_timeout=30).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Clusters"] == "2"
    assert metrics["Removed as exact duplicates"] == "1"
    assert metrics["Removed as near duplicates"] == "1"
    assert metrics["Largest cluster"] == "2"
    assert len(at.get("vega_lite_chart")) == 1  # the size histogram
    clusters = at.dataframe[0].value
    assert sorted(clusters["keeper_url"]) == sorted([EXACT[0], NEAR[0]])
    assert all(v.startswith("document?release=releases%2Fr1&doc=") for v in clusters["cluster_id"])
    assert_no_raw_html(at)

    cluster_of = {
        url: unquote(link.removeprefix("document?release=releases%2Fr1&doc="))
        for url, link in zip(clusters["keeper_url"], clusters["cluster_id"], strict=True)
    }
    for keeper_url, removed_url, reason in (EXACT, NEAR):
        at.selectbox(key="cluster").set_value(cluster_of[keeper_url]).run()
        assert not at.exception
        assert at.query_params["cluster"] in (cluster_of[keeper_url], [cluster_of[keeper_url]])  # shareable link
        members = at.dataframe[1].value
        assert members["role"].tolist() == ["keeper", "removed"]
        assert members["url"].tolist() == [keeper_url, removed_url]
        assert members["reason"].tolist()[1] == reason
        assert reason in at.selectbox(key="member").options[0]
        shown = [c.value for c in at.code]
        assert keeper_url in shown and removed_url in shown  # side by side, as text
        assert ("The two texts are identical." in texts(at)) == (reason == "dedup_exact")
        assert_no_raw_html(at)


@pytest.mark.parametrize("linked", ["' OR 1=1 --", "<script>alert(1)</script>", "../../etc/passwd"])
def test_dedup_page_ignores_a_hostile_cluster_link(app_env, linked):
    at = AppTest.from_file(str(APP / "views" / "dedup.py"), default_timeout=30)
    at.query_params["cluster"] = linked
    at.run()
    assert not at.exception
    assert at.selectbox(key="cluster").value != linked
    assert_no_raw_html(at)


def test_dedup_page_deep_link_opens_the_cluster(app_env, rel):
    clusters = queries.dedup_clusters(rel)
    near = clusters.filter(clusters["keeper_url"] == NEAR[0])["cluster_id"][0]
    at = AppTest.from_file(str(APP / "views" / "dedup.py"), default_timeout=30)
    at.query_params["cluster"] = near
    at.run()
    assert not at.exception
    assert at.selectbox(key="cluster").value == near
    assert at.dataframe[1].value["url"].tolist() == [NEAR[0], NEAR[1]]
    assert "estimated jaccard" in texts(at)  # the ledger detail under the side-by-side view
