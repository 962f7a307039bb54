"""robots.txt `Crawl-delay` for one product token, and `Retry-After` parsing.

`pipeline.optout.robots` parses the rule lines that decide opt-outs but skips `Crawl-delay` (it is
not an opt-out signal), so the crawler groups it here, over the same lines (`robots.directives`: BOM,
500 KiB cut, line endings, Google's key leniencies) and product tokens. Groups as in RFC 9309 2.2.1:
a run of `user-agent` lines starts a group, the agent's own groups are merged and `*` applies only when the
agent has none. Unlike `optout.robots` (where only allow/disallow/content-usage lines close a run of
user-agent lines), a `Crawl-delay` line closes it too, as Google's parser does: in
`User-agent: *` / `Crawl-delay: 5` / `User-agent: AperturaBot` the 5 s belong to `*` only.
`Crawl-delay` is not in RFC 9309; the de-facto meaning (seconds between requests) is used and the
largest value in the merged groups wins.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from pipeline.optout.robots import directives, product_token

_RULE_KEYS = ("allow", "disallow", "content-usage", "content-signal")


def crawl_delay(body: bytes, token: str) -> float | None:
    """Crawl-delay (seconds) that robots.txt `body` sets for `token`, or None if it sets none."""
    groups: list[tuple[list[str], list[float]]] = []
    agents: list[str] = []
    delays: list[float] = []
    in_rules = False
    for d in directives(body)[0]:  # the lines exactly as the opt-out parser reads them
        if d.key == "user-agent":
            if in_rules:
                groups.append((agents, delays))
                agents, delays, in_rules = [], [], False
            agents.append(d.value)
        elif d.key in _RULE_KEYS:
            in_rules = in_rules or bool(agents)
        elif d.key == "crawl-delay" and agents:
            in_rules = True
            try:
                seconds = float(d.value)
            except ValueError:
                continue
            if math.isfinite(seconds) and seconds >= 0:
                delays.append(seconds)
    if agents:
        groups.append((agents, delays))
    key = product_token(token).lower()
    own = [d for a, d in groups if key in (product_token(x).lower() for x in a)]
    if not own:
        own = [d for a, d in groups if "*" in (product_token(x) for x in a)]
    values = [v for d in own for v in d]
    return max(values) if values else None


def retry_after(value: str | None, at: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date); None if absent or junk."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (at or datetime.now(UTC))).total_seconds())
