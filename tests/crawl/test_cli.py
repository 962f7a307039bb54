"""`crawl` and `robots-snapshot` commands through Typer's CliRunner, registered as pipeline/cli.py will."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from pipeline.crawl.cli import crawl_command, robots_snapshot_command
from pipeline.sources.sample_web import start_sample_web

app = typer.Typer()
app.command("crawl")(crawl_command)
app.command("robots-snapshot")(robots_snapshot_command)
runner = CliRunner()
LOOPBACK = ["--allow-private"]  # the sample web is on 127.0.0.1, refused by default
FAST = ["--delay", "0.02", "--contact", "mailto:ops@example.org", *LOOPBACK]


@pytest.fixture(scope="module")
def web():
    with start_sample_web() as w:
        yield w


def test_crawl_command_prints_a_summary(web, tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(f"# two sites\n{web.url('news')}\n\n{web.url('vault')}\n")
    out = tmp_path / "out"
    cfg = tmp_path / "crawl.json"
    cfg.write_text(json.dumps({"backoff_seconds": 0.02}))
    args = ["--out", str(out), "-c", str(cfg), *FAST]
    r = runner.invoke(app, ["crawl", "--seeds", str(seeds), "--max-pages", "6", *args])
    assert r.exit_code == 0, r.output
    assert "pages: 6 " in r.output and "HTTP status: 200×" in r.output
    assert f"not crawled: {web.sites['vault']} (robots.txt unreachable (HTTP 503))" in r.output
    assert "stopped: max_pages reached" in r.output and "files: 1 WARC file(s)" in r.output
    assert any(e.user_agent.endswith("(+mailto:ops@example.org)") for e in web.requests)
    r = runner.invoke(app, ["crawl", "--resume", "--json", *args])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["stopped"] is None and summary["frontier"] == 0 and len(summary["files"]) == 2
    assert summary["robots_skipped"] == 3  # news /private/* and the vault's home page


def test_progress_line_on_stderr_only_when_asked(web, tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(web.url("news") + "\n")
    r = runner.invoke(app, ["crawl", "--seeds", str(seeds), "--out", str(tmp_path / "a"), "--progress", *FAST])
    assert r.exit_code == 0, r.output
    # the last report, drawn by the CLI: the news site's 19 fetches, 2 URLs skipped by robots.txt, one file
    assert "pages 19 · " in r.stderr and "robots-skipped 2 · queued 0 · files 1" in r.stderr
    assert "pages: 19 " in r.stdout and "pages 19" not in r.stdout
    r = runner.invoke(app, ["crawl", "--seeds", str(seeds), "--out", str(tmp_path / "b"), "--no-progress", *FAST])
    assert r.exit_code == 0, r.output
    assert "pages: 19 " in r.stdout and r.stderr == ""


def test_crawl_command_with_config_file(web, tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(web.url("blog") + "\n")
    cfg = tmp_path / "crawl.json"
    cfg.write_text(
        json.dumps(
            {"delay_seconds": 0.02, "max_depth": 0, "user_agent": "AperturaBot/test (+x)", "allow_private": True}
        )
    )
    r = runner.invoke(app, ["crawl", "--seeds", str(seeds), "--out", str(tmp_path / "o"), "-c", str(cfg), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["pages"] == 1


@pytest.mark.parametrize(
    "agent_args",
    [
        ["--user-agent", "GPTBot/1.0"],
        [
            "--user-agent",
            "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)",
            "--robots-token",
            "GPTBot",
        ],
    ],
)
def test_crawl_obeys_robots_for_the_user_agent_it_sends(web, tmp_path, agent_args):
    # The blog's robots.txt disallows GPTBot everywhere: announced as GPTBot, only robots.txt is requested.
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(web.url("blog") + "\n")
    args = ["crawl", "--seeds", str(seeds), "--delay", "0.02", "--json", *LOOPBACK, *agent_args]
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "gpt")])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["pages"] == 0 and summary["robots_skipped"] == 1  # the seed, recorded as not requested
    sent = [(e.site, e.path) for e in web.requests if e.user_agent == agent_args[1]]
    assert sent == [("blog", "/robots.txt")]
    # Control: another agent's crawl of the same site fetches its pages (the blog allows everybody else).
    other = ["crawl", "--seeds", str(seeds), "--delay", "0.02", "--json", *LOOPBACK, "--user-agent", "OtherBot/1.0"]
    r = runner.invoke(app, [*other, "--max-pages", "2", "--out", str(tmp_path / "other")])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["pages"] == 2


@pytest.mark.parametrize(
    ("seeds_text", "config_text", "args", "message"),
    [
        (None, None, [], "no such file"),
        ("http://127.0.0.1:9/\nmailto:x@y.z\n", None, [], "seeds.txt:2: not an http(s) URL: 'mailto:x@y.z'"),
        ("\n# nothing\n", None, [], "no URLs in file"),
        ("http://127.0.0.1:9/\n", '{"delay": 1}', [], "delay: Extra inputs are not permitted"),
        ("http://127.0.0.1:9/\n", "{not json", [], "config"),
        ("http://127.0.0.1:9/\n", None, ["--scope", "world"], "scope"),
        ("http://127.0.0.1:9/\n", None, ["--delay", "-1"], "delay_seconds"),
        (
            "http://127.0.0.1:9/\n",
            None,
            ["--user-agent", "GPTBot/1.0", "--robots-token", "AperturaBot"],
            "options: robots_token 'AperturaBot' is not a product the user agent 'GPTBot/1.0' names (GPTBot)",
        ),
        (
            "http://127.0.0.1:9/\n",
            '{"robots_token": "AperturaBot"}',
            ["--user-agent", "GPTBot/1.0"],
            "robots_token 'AperturaBot' is not a product the user agent 'GPTBot/1.0' names",
        ),
        (
            "http://127.0.0.1:9/\n",
            None,
            ["--user-agent", "Mozilla/5.0 (compatible; GPTBot/1.2)"],
            "names 2 products (Mozilla, GPTBot): give robots_token",
        ),
    ],
)
def test_crawl_command_errors(tmp_path, seeds_text, config_text, args, message):
    seeds = tmp_path / "seeds.txt"
    if seeds_text is not None:
        seeds.write_text(seeds_text)
    extra = list(args)
    if config_text is not None:
        (tmp_path / "c.json").write_text(config_text)
        extra += ["--config", str(tmp_path / "c.json")]
    r = runner.invoke(app, ["crawl", "--seeds", str(seeds), "--out", str(tmp_path / "out"), *extra])
    assert r.exit_code == 2
    assert "error:" in r.output and message.lower() in " ".join(r.output.split()).lower(), r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1


def test_crawl_command_refuses_a_used_out_dir(tmp_path):
    (tmp_path / "seeds.txt").write_text("http://127.0.0.1:9/\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.warc.gz").write_bytes(b"")
    r = runner.invoke(app, ["crawl", "--seeds", str(tmp_path / "seeds.txt"), "--out", str(out)])
    assert r.exit_code == 2 and "not empty" in r.output and "--resume" in r.output
    r = runner.invoke(app, ["crawl", "--out", str(tmp_path / "new")])
    assert r.exit_code == 2 and "--seeds is required" in r.output


def test_robots_snapshot_command(web, tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("\n".join([web.sites["forum"], web.sites["vault"], web.sites["forum"] + "/"]) + "\n")
    out = tmp_path / "snap"
    cfg = tmp_path / "crawl.json"
    cfg.write_text(json.dumps({"backoff_seconds": 0.02}))
    r = runner.invoke(app, ["robots-snapshot", "--hosts", str(hosts), "--out", str(out), "-c", str(cfg), *FAST])
    assert r.exit_code == 0, r.output
    assert f"{web.sites['forum']}: robots.txt HTTP 200 -> parsed; /.well-known/tdmrep.json=404 /ai.txt=200" in r.output
    assert f"{web.sites['vault']}: robots.txt HTTP 503 -> unreachable (HTTP 503)" in r.output
    assert (out / "robots-snapshot-00000.warc.gz").is_file()
    hosts.write_text(web.sites["forum"] + "/some/page\n")
    r = runner.invoke(app, ["robots-snapshot", "--hosts", str(hosts), "--out", str(tmp_path / "s2")])
    assert r.exit_code == 2 and "is not a host or origin" in r.output


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_ctrl_c_saves_the_state_and_resume_finishes(web, tmp_path, stop):
    """SIGINT or SIGTERM before the first checkpoint: exit 128 + signal, WARC closed under its final name,
    crawl-state.json written, in-flight URLs back in the frontier; `--resume` finishes the crawl."""
    import signal
    import subprocess
    import sys
    import time

    seeds = tmp_path / "seeds.txt"
    seeds.write_text(web.url("news") + "\n" + web.url("blog") + "\n")
    out = tmp_path / "out"
    script = (
        "import typer; from pipeline.crawl.cli import crawl_command; "
        "app = typer.Typer(); app.command('crawl')(crawl_command); app.command('other')(crawl_command); app()"
    )
    before = len(web.requests)
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "crawl", "--seeds", str(seeds), "--out", str(out), "--delay", "0.2", *LOOPBACK],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while len(web.requests) - before < 8 and time.monotonic() < deadline:
        time.sleep(0.02)
    signum = getattr(signal, stop)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signum and "continue with --resume" in err
    state = json.loads((out / "crawl-state.json").read_text())
    assert state["finished"] is False and state["files"] == ["crawl-00000.warc.gz"]
    assert not list(out.glob("*.open"))
    r = runner.invoke(app, ["crawl", "--out", str(out), "--resume", "--json", "--delay", "0.02", *LOOPBACK])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["frontier"] == 0 and summary["pages"] == 19 + 6  # news without /private/*, blog


def test_crawl_dry_run_prints_the_resolved_config(tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("HTTP://Example.org:80/a/../b#x\n")
    r = runner.invoke(app, ["crawl", "--seeds", str(seeds), "--out", str(tmp_path / "o"), "--dry-run", "--delay", "2"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["seeds"] == ["http://example.org/b"] and doc["config"]["delay_seconds"] == 2
    assert doc["config_hash"].startswith("sha256:") and not (tmp_path / "o").exists()
