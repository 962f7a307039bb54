"""`noai` / `noimageai` directives (DeviantArt's proposal, adopted by several publishers) in
`X-Robots-Tag` headers and `<meta name="robots">` / bot-specific `<meta name="GPTBot">` tags.

`noai` reserves all AI training use (text included). `noimageai` reserves images only: it does not
reserve a text document, but it is recorded as evidence. A header may be scoped to one agent,
`X-Robots-Tag: GPTBot: noai` (Google's `<agent>: <directives>` form); several headers may be sent.
"""

from __future__ import annotations

import re

from pipeline.optout.base import Decision, Evidence, Headers, header_values, html_meta, sha256_hex

SIGNAL = "noai"
# Directives of the form "name: value" that are not an agent prefix.
_VALUED = {"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"}
_SCOPED = re.compile(r"^\s*([A-Za-z0-9_.*-]+)\s*:\s*(.*)$", re.DOTALL)


def parse_x_robots_tag(value: str) -> tuple[str | None, set[str]]:
    """'GPTBot: noai, noimageai' -> ('gptbot', {'noai', 'noimageai'}); 'noai' -> (None, {'noai'})."""
    scope = None
    m = _SCOPED.match(value)
    if m and m.group(1).lower() not in _VALUED:
        scope, value = m.group(1).lower(), m.group(2)
    directives = {d.split(":", 1)[0].strip().lower() for d in value.split(",") if d.strip()}
    return scope, directives


def decide(
    agents: list[str] | tuple[str, ...],
    *,
    headers: Headers | None = None,
    html: bytes | str | None = None,
    fetched_at: str | None = None,
) -> list[Decision]:
    """Per agent: reserved if a `noai` applies to it (unscoped, or scoped to its token)."""
    found: list[tuple[str | None, set[str], Evidence]] = []
    for value in header_values(headers, "x-robots-tag"):
        scope, directives = parse_x_robots_tag(value)
        if directives & {"noai", "noimageai"}:
            found.append(
                (
                    scope,
                    directives,
                    Evidence(SIGNAL, "http-header", f"X-Robots-Tag: {value}", sha256_hex(value), fetched_at),
                )
            )
    page_hash = sha256_hex(html) if html else None
    for name, content, tag in html_meta(html):
        directives = {d.strip().lower() for d in content.split(",") if d.strip()}
        if directives & {"noai", "noimageai"}:
            scope = None if name == "robots" else name
            found.append((scope, directives, Evidence(SIGNAL, "html-meta", tag, page_hash, fetched_at)))
    out = []
    for agent in agents:
        token = agent.strip().lower()
        mine = [(s, d, e) for s, d, e in found if s is None or s == token]
        evidence = tuple(e for _, _, e in mine)
        noai = next((e for _, d, e in mine if "noai" in d), None)
        if noai is not None:
            out.append(Decision(agent, False, SIGNAL, f"{noai.seen} ({noai.where})", evidence))
        elif mine:
            out.append(Decision(agent, True, SIGNAL, "noimageai only: images reserved, text allowed", evidence))
        else:
            out.append(Decision(agent, True, SIGNAL, "no noai directive", ()))
    return out
