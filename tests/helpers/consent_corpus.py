"""A corpus for consent decisions: URLs stored in odd but equivalent spellings, texts copied in chains.

Every page knows, by construction, its site and section (`Planted.site`, `.section`), so a test can say
which pages an opt-out for a domain or a URL prefix must remove without asking the code under test. Copies
are made by changing words of an original (`edit_words`): a chain A -> B -> C of near-copies across sites,
and an exact copy, so dedup clusters span the sites that opt out and those that do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.synthetic import make_page
from tests.helpers.warcs import Page, write_warc

REPLACEMENTS = ("Zwischenruf", "Nachtrag", "Randnotiz", "Einschub", "Fussnote", "Anmerkung", "Vermerk", "Notiz")


@dataclass(frozen=True)
class Planted:
    stored_url: str  # as written in WARC-Target-URI
    site: str  # the site it belongs to, by construction (host without www., plus a non-default port)
    section: str  # first path segment, as the site means it ('paywall', 'free', ...)
    text: str  # the article text (paragraphs joined by blank lines)


def edit_words(text: str, n: int, salt: int = 0) -> str:
    """`text` with `n` words replaced, spread evenly: a near-copy (n small) or a different text (n large)."""
    words = text.split(" ")
    step = max(1, len(words) // (n + 1))
    for k in range(n):
        i = min(len(words) - 1, (k + 1) * step)
        words[i] = REPLACEMENTS[(k + salt) % len(REPLACEMENTS)]
    return " ".join(words)


def _html(title: str, text: str) -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
    head = f"<html><head><title>{title}</title></head>"
    return f"{head}<body><article><h1>{title}</h1>{paragraphs}</article></body></html>"


# (stored URL, site, section, seed of the original or (index of page copied, words changed))
LAYOUT: list[tuple[str, str, str, int | tuple[int, int]]] = [
    ("http://ALPHA.test./paywall/a0", "alpha.test", "paywall", 0),
    ("https://alpha.test:443/%70aywall/a1", "alpha.test", "paywall", 1),
    ("http://alpha.test:80/free/a2", "alpha.test", "free", 2),
    ("http://www.alpha.test/paywall/a3", "alpha.test", "paywall", 3),
    ("http://beta.test/news/b0", "beta.test", "news", (0, 3)),  # near-copy of a0
    ("http://news.gamma.test/news/c0", "gamma.test", "news", (4, 3)),  # near-copy of b0: a chain
    ("http://Bücher.test/buch/d0", "xn--bcher-kva.test", "buch", 4),
    ("http://delta.test:8080/p/e0", "delta.test:8080", "p", (1, 0)),  # exact copy of a1, on a port
    ("http://delta.test:8080/p/e1", "delta.test:8080", "p", 5),
    ("https://delta.test/p/e2", "delta.test", "p", (8, 2)),  # near-copy of e1, default port
    ("http://epsilon.test/x/f0", "epsilon.test", "x", 6),
    ("http://epsilon.test/x/f1", "epsilon.test", "x", (10, 4)),
    ("http://shop.epsilon.test/x/f2", "epsilon.test", "x", 7),  # an original on a subdomain: a domain entry covers it
]


def consent_corpus(directory: Path) -> tuple[list[Path], list[Planted]]:
    """Two WARC files holding `LAYOUT` (originals in the first, copies in the second, so originals keep)."""
    planted: list[Planted] = []
    for url, site, section, source in LAYOUT:
        if isinstance(source, int):
            page = make_page(source, f"http://origin.test/{source}", "en", paragraphs=6)
            text = "\n\n".join(page.paragraphs)
        else:
            copied, changed = source
            text = edit_words(planted[copied].text, changed, salt=len(planted))
        planted.append(Planted(url, site, section, text))
    directory.mkdir(parents=True, exist_ok=True)
    files = [directory / "originals.warc.gz", directory / "copies.warc.gz"]
    groups: list[list[Page]] = [[], []]
    for (_, _, _, source), p in zip(LAYOUT, planted, strict=True):
        groups[0 if isinstance(source, int) else 1].append(Page(p.stored_url, _html(p.section.title(), p.text)))
    for path, pages in zip(files, groups, strict=True):
        write_warc(path, pages)
    return files, planted
