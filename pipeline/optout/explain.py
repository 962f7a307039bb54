"""Every signal family for one URL at once: what a rights holder's tester and the opt-out step ask.

Each family decides independently (robots.txt Allow/Disallow, its Content-Usage/Content-Signal
lines, the Content-Usage header, TDMRep, noai, ai.txt); a document is reserved for an agent when
any family reserves it, and every deciding rule is reported with its evidence.
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
    """Per agent, allowed or reserved for AI training, with the rules that decided.

    `robots_status` is how the robots.txt fetch ended (None: unreachable); RFC 9309 decides what a
    4xx or 5xx means. A missing tdmrep.json or ai.txt (None) is no signal.
    """
    if robots_txt is None and robots_status == 200:
        rules = robots.missing()
    else:
        rules = robots.from_fetch(robots_status, robots_txt, content_type=robots_content_type)
    well_known = tdmrep.parse_file(tdmrep_json) if tdmrep_json is not None else None
    families = [
        robots.decide(rules, url, agents),
        robots.decide_usage(rules, url, agents),
        aipref.decide_header(headers, agents),
        tdmrep.decide(url, agents, headers=headers, html=html, well_known=well_known),
        noai.decide(agents, headers=headers, html=html),
    ]
    if ai_txt is not None:
        families.append(aitxt.decide(aitxt.parse(ai_txt), url, agents))
    verdicts = []
    for agent in agents:
        decisions = tuple(d for family in families for d in family if d.agent == agent)
        reserving = tuple(d for d in decisions if not d.allowed)
        verdicts.append(Verdict(agent, bool(reserving), reserving, decisions))
    return verdicts
