"""Word-level differences between a kept document and its removed duplicate, as HTML a person can scan: the
passages only the keeper has in <del>, those only the duplicate has in <ins>.

Safety: every word from the data goes through `html.escape`; the only tags in the output are the ones written
here (<del>, <ins>, one <div>). The page draws it with `st.html`, which does no Markdown processing.
"""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass

MAX_WORDS = 20_000  # per text: difflib is quadratic in the worst case; beyond this the rest is shown undiffed
_TOKEN = re.compile(r"\s*\S+")
BOX = (
    '<div style="white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: 0.85rem; '
    'line-height: 1.5; max-height: 32rem; overflow-y: auto; border: 1px solid #ddd; padding: 0.5rem">{}</div>'
)
STYLE = (
    "<style>del.apertura-diff{background:#fde2e1;color:#8a1c1c}"
    "ins.apertura-diff{background:#dff3e2;color:#1b5e20;text-decoration:none}</style>"
)


@dataclass(frozen=True)
class WordDiff:
    keeper_html: str  # the keeper's text, its passages missing from the duplicate in <del>
    member_html: str  # the duplicate's text, its passages missing from the keeper in <ins>
    removed: list[str]  # passages only the keeper has (words joined by single spaces), in order
    inserted: list[str]  # passages only the duplicate has
    truncated: bool  # a text had more than MAX_WORDS words: the rest is shown without highlighting


def _tokens(text: str) -> list[str]:
    """Words with the whitespace before them, so that joining them gives the text back (trailing space aside)."""
    return _TOKEN.findall(text)


def _mark(tokens: list[str], tag: str) -> str:
    """Escaped tokens, wrapped in one `tag` element (the whitespace before the first word stays outside)."""
    if not tokens:
        return ""
    first = tokens[0]
    lead = first[: len(first) - len(first.lstrip())]
    inner = html.escape(first.lstrip() + "".join(tokens[1:]))
    return f'{html.escape(lead)}<{tag} class="apertura-diff">{inner}</{tag}>'


def word_diff(keeper: str, member: str) -> WordDiff:
    """Compare the two texts word by word (whitespace differences ignored)."""
    a_all, b_all = _tokens(keeper), _tokens(member)
    a, b = a_all[:MAX_WORDS], b_all[:MAX_WORDS]
    # autojunk: words in more than 1% of a long text are not used as anchors (matches still extend over them).
    # Without it a repetitive text ("same same same ...") takes seconds: 5,000 words 6.3 s, with it 0.01 s.
    matcher = difflib.SequenceMatcher(None, [t.strip() for t in a], [t.strip() for t in b], autojunk=True)
    left, right, removed, inserted = [], [], [], []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            left.append(html.escape("".join(a[i1:i2])))
            right.append(html.escape("".join(b[j1:j2])))
            continue
        if i2 > i1:
            left.append(_mark(a[i1:i2], "del"))
            removed.append(" ".join(t.strip() for t in a[i1:i2]))
        if j2 > j1:
            right.append(_mark(b[j1:j2], "ins"))
            inserted.append(" ".join(t.strip() for t in b[j1:j2]))
    left.append(html.escape("".join(a_all[MAX_WORDS:])))
    right.append(html.escape("".join(b_all[MAX_WORDS:])))
    return WordDiff(
        keeper_html=BOX.format("".join(left)),
        member_html=BOX.format("".join(right)),
        removed=removed,
        inserted=inserted,
        truncated=len(a_all) > MAX_WORDS or len(b_all) > MAX_WORDS,
    )
