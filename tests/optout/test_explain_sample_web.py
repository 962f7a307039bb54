"""All signal families together, against the sample web's ground truth (written by construction)."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.optout.explain import explain
from pipeline.sources.sample_web import AI_AGENTS, serve_sample_web

AGENTS = (*AI_AGENTS, "AperturaBot")


def _site_file(client: httpx.Client, base: str, path: str) -> tuple[int | None, bytes | None, str | None]:
    response = client.get(base + path)
    return response.status_code, response.content, response.headers.get("content-type")


@pytest.fixture(scope="module")
def web():
    with serve_sample_web() as served:
        yield served


def test_every_page_gets_the_ground_truth_verdict_for_every_agent(web):
    checked = 0
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        files = {}
        for site, base in web.sites.items():
            robots_status, robots_body, robots_type = _site_file(client, base, "/robots.txt")
            tdm_status, tdm_body, _ = _site_file(client, base, "/.well-known/tdmrep.json")
            ai_status, ai_body, _ = _site_file(client, base, "/ai.txt")
            files[site] = dict(
                robots_txt=robots_body, robots_status=robots_status, robots_content_type=robots_type,
                files={"/.well-known/tdmrep.json": tdm_body if tdm_status == 200 else None,
                       "/ai.txt": ai_body if ai_status == 200 else None},
            )  # fmt: skip
        for url, expected in web.ground_truth.items():
            if expected.kind != "page" or expected.status != 200:
                continue
            page = client.get(url)
            verdicts = explain(url, AGENTS, headers=list(page.headers.multi_items()), html=page.content,
                               **files[expected.site])  # fmt: skip
            for verdict in verdicts:
                want = bool(expected.reserved_for(verdict.agent))
                assert verdict.reserved == want, (url, verdict.agent, [d.rule for d in verdict.reserving])
                checked += 1
    assert checked > 50 * len(AGENTS)


def test_cli_explain_names_the_rule(tmp_path):
    robots = tmp_path / "robots.txt"
    robots.write_text("User-agent: GPTBot\nDisallow: /\n\nUser-agent: *\nDisallow: /private/\n")
    result = CliRunner().invoke(
        app, ["optout", "explain", "--url", "https://example.org/a", "--robots", str(robots), "--agent", "GPTBot",
              "--agent", "CCBot", "--header", "Content-Usage: train-ai=n"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "GPTBot: RESERVED"
    assert any("Disallow: / (line 2, group 'GPTBot')" in line for line in lines)
    assert "CCBot: RESERVED" in lines  # the Content-Usage header reserves for everyone
    bad = CliRunner().invoke(app, ["optout", "explain", "--url", "https://e.org/", "--header", "no colon"])
    assert bad.exit_code == 2
