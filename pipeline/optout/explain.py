"""Every signal family for one URL at once: what a rights holder's tester and the opt-out step ask.

Each family decides independently (robots.txt Allow/Disallow, its Content-Usage/Content-Signal
lines, the Content-Usage header, TDMRep, noai, ai.txt); a document is reserved for an agent when
any family reserves it, and every deciding rule is reported with its evidence.

The site-wide files are parsed once per origin into a `SitePolicy`, which may hold several
versions of each (the one fetched at crawl time, and newer snapshots): the most restrictive wins,
so a reservation made after the crawl still removes the page (the Apertus approach).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.optout import aipref, aitxt, noai, robots, tdmrep
from pipeline.optout.base import Decision, Headers


@dataclass(frozen=True)
class Verdict:
    agent: str
    reserved: bool
    reserving: tuple[Decision, ...]  # the decisions that reserve (empty when allowed)
    decisions: tuple[Decision, ...]  # every family's decision for this agent


@dataclass(frozen=True)
class SitePolicy:
    """The parsed site policy files of one origin; each tuple holds every version seen. Empty: none seen
    (a missing robots.txt allows, a missing tdmrep.json or ai.txt is no signal)."""

    robots: tuple[robots.Robots, ...] = ()
    tdmrep: tuple[tdmrep.TdmrepFile, ...] = ()
    ai_txt: tuple[robots.Robots, ...] = ()


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
    families: list[list[Decision]] = [
        aipref.decide_header(headers, agents),
        noai.decide(agents, headers=headers, html=html),
    ]
    for rules in site.robots or (robots.missing(),):
        families += [robots.decide(rules, url, agents), robots.decide_usage(rules, url, agents)]
    for well_known in site.tdmrep or (None,):
        families.append(
            tdmrep.decide(
                url, agents, headers=headers, html=html, well_known=well_known, malformed_tdmrep=malformed_tdmrep
            )
        )
    for rules in site.ai_txt:
        families.append(aitxt.decide(rules, url, agents))
    by_agent: dict[str, list[Decision]] = {agent: [] for agent in agents}
    for family in families:  # one pass, not one scan of every family per agent (it showed in profiles)
        for d in family:
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
    tdmrep_json: bytes | None = None,
    ai_txt: bytes | None = None,
    headers: Headers | None = None,
    html: bytes | None = None,
) -> list[Verdict]:
    """`decide` from the raw bytes of one version of each file.

    `robots_status` is how the robots.txt fetch ended (None: unreachable); RFC 9309 decides what a
    4xx or 5xx means. A missing tdmrep.json or ai.txt (None) is no signal.
    """
    if robots_txt is None and robots_status == 200:
        rules = robots.missing()
    else:
        rules = robots.from_fetch(robots_status, robots_txt, content_type=robots_content_type)
    site = SitePolicy(
        robots=(rules,),
        tdmrep=(tdmrep.parse_file(tdmrep_json),) if tdmrep_json is not None else (),
        ai_txt=(aitxt.parse(ai_txt),) if ai_txt is not None else (),
    )
    return decide(site, url, agents, headers=headers, html=html)
