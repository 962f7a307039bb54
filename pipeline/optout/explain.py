"""Every signal family for one URL at once: what a rights holder's tester and the opt-out step ask.

Each family (`pipeline.optout.families`) decides independently (robots.txt Allow/Disallow, its
Content-Usage/Content-Signal lines, the Content-Usage header, TDMRep, noai, ai.txt); a document is
reserved for an agent when any family reserves it, and every deciding rule is reported with its evidence.

The site-wide files are parsed once per origin into a `SitePolicy`, which may hold several
versions of each (the one fetched at crawl time, and newer snapshots): the most restrictive wins,
so a reservation made after the crawl still removes the page (the Apertus approach).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.optout import families, robots, tdmrep
from pipeline.optout.base import Decision, Headers


@dataclass(frozen=True)
class Verdict:
    agent: str
    reserved: bool
    reserving: tuple[Decision, ...]  # the decisions that reserve (empty when allowed)
    decisions: tuple[Decision, ...]  # every family's decision for this agent


@dataclass(frozen=True)
class SitePolicy:
    """The parsed site files of one origin by family name, each tuple every version seen. A family without
    one: none seen (a missing robots.txt allows, a missing tdmrep.json or ai.txt is no signal)."""

    files: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def versions(self, family: str) -> tuple[Any, ...]:
        return self.files.get(family, ())

    def __bool__(self) -> bool:
        return any(self.files.values())


def decide(
    site: SitePolicy,
    url: str,
    agents: list[str] | tuple[str, ...],
    *,
    headers: Headers | None = None,
    html: bytes | None = None,
    malformed_tdmrep: tdmrep.ProtocolErrors = "unset",
) -> list[Verdict]:
    """Per agent, allowed or reserved for AI training, with the rules that decided."""
    page = families.Page(url, agents, headers, html, malformed_tdmrep)
    by_agent: dict[str, list[Decision]] = {agent: [] for agent in agents}
    for family in families.deciding():  # one pass, not one scan of every family per agent (it showed in profiles)
        for decisions in family.decide(page, site.versions(family.name)):
            for d in decisions:
                by_agent[d.agent].append(d)
    verdicts = []
    for agent in agents:
        decisions = tuple(by_agent[agent])
        reserving = tuple(d for d in decisions if not d.allowed)
        verdicts.append(Verdict(agent, bool(reserving), reserving, decisions))
    return verdicts


def explain(
    url: str,
    agents: list[str] | tuple[str, ...],
    *,
    robots_txt: bytes | None = None,
    robots_status: int | None = 200,
    robots_content_type: str | None = None,
    files: Mapping[str, bytes | None] | None = None,
    headers: Headers | None = None,
    html: bytes | None = None,
) -> list[Verdict]:
    """`decide` from the raw bytes of one version of each file.

    `robots_status` is how the robots.txt fetch ended (None: unreachable); RFC 9309 decides what a
    4xx or 5xx means. `files` holds the other site files by path (`{"/ai.txt": b"..."}`), each read as a
    200 response by its family's parser; a missing one (None) is no signal.
    """
    if robots_txt is None and robots_status == 200:
        rules = robots.missing()
    else:
        rules = robots.from_fetch(robots_status, robots_txt, content_type=robots_content_type)
    parsed: dict[str, tuple[Any, ...]] = {families.family_at(families.ROBOTS_TXT).name: (rules,)}
    for path, body in (files or {}).items():
        family = families.family_at(path)
        if family is None or family.site_file is None or path == families.ROBOTS_TXT:
            raise ValueError(f"{path} is not the path of a declared site file other than robots.txt")
        if body is not None:
            version = family.site_file.parse(families.Fetch(path, 200, body))[2]
            parsed[family.name] = () if version is None else (version,)
    return decide(SitePolicy(parsed), url, agents, headers=headers, html=html)
