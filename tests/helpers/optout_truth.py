"""The sample web's ground truth as expectations on a release: which pages the opt-out stage must remove."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl

from pipeline.sources import sample_web as sw

# Ground-truth signal -> the ledger reason of the signal family that decides it.
FAMILY = {
    sw.ROBOTS: "optout_robots",
    sw.ROBOTS_5XX: "optout_robots",
    sw.X_ROBOTS_TAG: "optout_noai",
    sw.META_ROBOTS: "optout_noai",
    sw.TDM_HEADER: "optout_tdmrep",
    sw.TDM_META: "optout_tdmrep",
    sw.TDMREP_JSON: "optout_tdmrep",
    sw.TDMREP_MALFORMED: "optout_tdmrep",
    sw.AI_TXT: "optout_ai_txt",
    sw.CONTENT_USAGE_ROBOTS: "optout_aipref",
    sw.CONTENT_USAGE_HEADER: "optout_aipref",
    sw.CONTENT_SIGNAL: "optout_content_signal",
}


def check_against_ground_truth(
    docs: pl.DataFrame,
    ledger: pl.DataFrame,
    base: Callable[[str], str],
    honoured: Sequence[str],
    *,
    crawled: bool = False,
    malformed_tdmrep: str = "unset",
) -> int:
    """Assert every reserved page is out of the release (removed by opt-out with a reason of the right
    family) and no allowed page was opted out; return how many reserved pages were checked in the ledger.

    `base(site)` gives a site's URL prefix. With `crawled`, a page reserved for every agent may be
    absent altogether: a polite crawler never fetched it. `malformed_tdmrep` is the run's config value.
    """
    removed = {u: (s, r) for u, s, r in ledger.select("url", "stage", "reason").iter_rows()}
    kept = set(docs["url"])
    checked = 0
    for e in sw.iter_expected(kind=sw.PAGE):
        url = base(e.site) + e.path
        expected = {FAMILY[r.signal] for agent in honoured for r in e.reserved_for(agent, malformed_tdmrep)}
        if not expected:
            assert removed.get(url, ("kept",))[0] != "optout", f"{url} is allowed but was opted out: {removed[url]}"
            continue
        assert url not in kept, f"{url} is reserved ({expected}) but in the release"
        if crawled and url not in removed and any("*" in r.agents for r in e.reserved):
            continue
        assert removed[url][0] == "optout", f"{url}: removed at {removed[url]}, expected opt-out"
        assert removed[url][1] in expected, f"{url}: {removed[url][1]} not in {expected}"
        checked += 1
    return checked
