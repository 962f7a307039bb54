"""`index`, `check` and `search` as commands, through a tiny Typer app (pipeline/cli.py registers the same)."""

from __future__ import annotations

import json
import shutil

import typer
from typer.testing import CliRunner

from pipeline.index.cli import check_command, index_command, search_command

app = typer.Typer()
app.command("index")(index_command)
app.command("check")(check_command)
app.command("search")(search_command)
runner = CliRunner()


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def test_index_then_check_and_search(planted_index, docs, tmp_path):
    release = shutil.copytree(planted_index.release, tmp_path / "r", ignore=shutil.ignore_patterns("index"))
    result = invoke("check", release, "--url", "https://MIRROR.net:443/story")  # a page: from the release's tables
    assert result.exit_code == 0 and result.stdout.startswith("IN") and "mirror.net/story" in result.stdout
    _, text = docs["http://mirror.net/story"]
    edited = tmp_path / "edited.txt"
    edited.write_text(text.replace(" ", "  ", 5)[:-40] + " and a new ending nobody wrote before.")
    result = invoke("check", release, "--text-file", edited)  # no index: near copies unchecked, never "NOT IN"
    assert result.exit_code == 0 and result.stdout.startswith("NOT FOUND"), result.output
    assert "no membership index" in result.stdout and "Traceback" not in result.output

    result = invoke("index", release)
    assert result.exit_code == 0, result.output
    assert "index written" in result.output and "false-positive rate" in result.output
    result = invoke("index", release)
    assert result.exit_code == 2 and "already exists" in result.output
    config = tmp_path / "index.json"
    config.write_text('{"ngram": 1}')
    result = invoke("index", release, "--force", "--config", config)
    assert result.exit_code == 2 and "ngram" in result.output

    article = tmp_path / "article.txt"
    article.write_text(text)
    result = invoke("check", release, "--text-file", article, "--url", "http://example.org/private/story", "--json")
    assert result.exit_code == 0, result.output
    text_answer, url_answer = json.loads(result.stdout)["answers"]
    assert text_answer["verdict"] == "in" and text_answer["matches"][0]["url"] == "http://mirror.net/story"
    assert url_answer["verdict"] == "not in" and url_answer["removed"][0]["reason"] == "optout_robots"
    assert text_answer["sketch"]["false_positive_rate_configured"] == 0.01

    result = invoke("check", release, "--text-file", article)
    assert result.exit_code == 0 and result.stdout.startswith("IN") and "mirror.net/story" in result.stdout
    assert "[exact, near_duplicate, contained]" in result.stdout and "250 words at characters 0-" in result.stdout
    result = invoke("check", release, "--text-file", "-", input=text[:400])
    assert result.exit_code == 0 and "IN" in result.stdout
    result = invoke("check", release, "--domain", "example.org")
    assert result.exit_code == 0 and "NOT IN" in result.stdout and "optout_robots" in result.stdout

    result = invoke("search", release, "Gemeinderat [bold]", "--lang", "de", "--limit", "3", "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert 1 <= len(hits) <= 3 and {h["language"] for h in hits} == {"de"}
    result = invoke("search", release, 'title:(x OR "y', "--limit", "2")
    assert result.exit_code == 0, result.output


def test_clear_errors(index, planted_index, tmp_path):
    release = planted_index.release
    cases = [
        (("check", release), "give --text-file, --url or --domain"),
        (("check", release, "--text-file", tmp_path / "missing.txt"), "missing.txt"),
        (("search", release, "bridge", "--limit", "0"), "between 1 and 100"),
        (("search", release, "   "), "empty"),
        (("check", tmp_path, "--domain", "a.org"), "not a release"),
    ]
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    huge = tmp_path / "huge.txt"
    huge.write_text("word " * 50_000)
    cases += [(("check", release, "--text-file", empty), "empty"), (("check", release, "--text-file", huge), "limit")]
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output, result.output
