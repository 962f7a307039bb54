"""Spawning's `ai.txt` at the site root: robots.txt-like `User-Agent` groups with `Allow`/`Disallow`
rules over paths and file patterns (e.g. `Disallow: *.txt`, `Disallow: /`), decided for text pages.

The robots.txt parser and matcher read it (Spawning's generator emits robots.txt syntax), so every rule
of `pipeline.optout.robots` holds here too: grouping, agent matching, longest match and ties, percent
normalisation and `%2A`/`%24`, Google's leniencies (named in the rule), and the 500 KiB cut. A pattern
without a leading `/` (`*.html`) matches anywhere in the path, which is how Spawning's file-type lines
are meant. A missing/unfetchable ai.txt gives no signal (allowed): unlike robots.txt there is no rule
that an unreachable ai.txt reserves anything.
"""

from __future__ import annotations

from dataclasses import replace

from pipeline.optout import robots
from pipeline.optout.base import Decision

SIGNAL = "ai.txt"


def parse(
    body: bytes | str | None,
    url: str = "ai.txt",
    fetched_at: str | None = None,
    status: int | None = 200,
    content_type: str | None = None,
) -> robots.Robots:
    """Parse ai.txt; anything but a 2xx non-HTML body is 'no rules'. Never raises."""
    if body is None or status is None or not 200 <= status < 300:
        return robots.Robots(url, "allow_all", f"no ai.txt (HTTP {status})" if status else "no ai.txt")
    parsed = robots.parse(body, url, fetched_at, content_type)
    groups = tuple(
        replace(
            g,
            lines=tuple(
                replace(line, path="*" + line.path) if line.path and not line.path.startswith(("/", "*")) else line
                for line in g.lines
            ),
        )
        for g in parsed.groups
    )
    return replace(parsed, groups=groups, _by_agent={})


def decide(aitxt: robots.Robots, url: str, agents: list[str] | tuple[str, ...]) -> list[Decision]:
    return [
        replace(d, signal=SIGNAL, evidence=tuple(replace(e, signal=SIGNAL) for e in d.evidence))
        for d in robots.decide(aitxt, url, agents)
    ]
