"""IETF AI Preferences: the vocabulary (draft-ietf-aipref-vocab) and the `Content-Usage` HTTP header
(draft-ietf-aipref-attach), plus Cloudflare's `Content-Signal` (contentsignals.org) mapped onto it.

A preference list is a Structured-Fields-like dictionary: `train-ai=n, search=y`. `y` allows, `n`
reserves; unknown keys and values are ignored (recorded in evidence only). When the asked category
has no statement, its parent in the vocabulary hierarchy decides (`train-genai` -> `train-ai` ->
`bots`; `bots` appeared as the root "automated processing" category in earlier drafts and is kept so
files written for them still count). Across several statements the most restrictive wins.
"""

from __future__ import annotations

from pipeline.optout.base import Decision, Evidence, Headers, header_values, sha256_hex

PARENT = {"train-genai": "train-ai", "train-ai": "bots", "search": "bots", "ai-use": "bots"}
# Content-Signal keys and yes/no values mapped onto the aipref vocabulary.
CONTENT_SIGNAL_KEYS = {"ai-train": "train-ai", "search": "search", "ai-input": "ai-use"}
VALUES = {"y": False, "n": True}  # value -> reserved
CONTENT_SIGNAL_VALUES = {"yes": False, "no": True}


def parse_prefs(value: str, *, content_signal: bool = False) -> dict[str, bool]:
    """'train-ai=n, search=y' -> {'train-ai': True (reserved), 'search': False}. Never raises."""
    prefs: dict[str, bool] = {}
    values = CONTENT_SIGNAL_VALUES if content_signal else VALUES
    for item in value.split(","):
        key, sep, val = item.partition("=")
        key = key.strip().lower()
        val = val.split(";", 1)[0].strip().strip('"').lower()  # drop SF parameters
        if not sep or not key or val not in values:
            continue
        if content_signal:
            key = CONTENT_SIGNAL_KEYS.get(key, key)
        # Within one statement a repeated key: the most restrictive wins.
        prefs[key] = prefs.get(key, False) or values[val]
    return prefs


def resolve(prefs: dict[str, bool], category: str = "train-ai") -> tuple[bool, str] | None:
    """(reserved, category that decided) following the hierarchy, or None if nothing applies."""
    cat: str | None = category
    while cat is not None:
        if cat in prefs:
            return prefs[cat], cat
        cat = PARENT.get(cat)
    return None


def decide_header(
    headers: Headers | None,
    agents: list[str] | tuple[str, ...],
    category: str = "train-ai",
    fetched_at: str | None = None,
) -> list[Decision]:
    """Decisions from `Content-Usage` response headers (all of them; most restrictive wins).
    The header is not agent-specific, so every agent gets the same verdict. No header -> allowed."""
    values = header_values(headers, "content-usage")
    evidence = tuple(
        Evidence("aipref", "http-header", f"Content-Usage: {v}", sha256_hex(v), fetched_at) for v in values
    )
    reserved_by: str | None = None
    allowed_by: str | None = None
    for v in values:
        hit = resolve(parse_prefs(v), category)
        if hit is None:
            continue
        reserved, cat = hit
        if reserved and reserved_by is None:
            reserved_by = f"Content-Usage: {v} ({cat}=n)"
        elif not reserved and allowed_by is None:
            allowed_by = f"Content-Usage: {v} ({cat}=y)"
    if reserved_by:
        rule, allowed = reserved_by, False
    else:
        rule, allowed = allowed_by or f"no Content-Usage preference for {category}", True
    return [Decision(a, allowed, "aipref", rule, evidence) for a in agents]
