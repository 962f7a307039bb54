"""A planted corpus: pages whose fate in the pipeline is known by construction.

Each page's expected outcome is written next to it (kept with a language, or removed at a stage
for a reason, or removed as a duplicate of another page), so end-to-end tests compare the release
against the construction, not against a previous run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.synthetic import LANGUAGES, make_page
from tests.helpers.warcs import Page, write_warc


@dataclass(frozen=True)
class Expect:
    stage: str | None = None  # None: kept
    reason: str | None = None
    language: str | None = None
    duplicate_of: str | None = None  # URL of the kept copy
    pii: tuple[int, int, int] = (0, 0, 0)  # emails, public IPs, IBANs


def _html(title: str, paragraphs: list[str]) -> str:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{body}</article></body></html>"


def planted_corpus(seed: int = 0) -> tuple[list[list[Page]], dict[str, Expect]]:
    """Pages split over three WARC files, and what must happen to each (keyed by URL)."""
    files: list[list[Page]] = [[], [], []]
    expect: dict[str, Expect] = {}

    def add(file: int, page: Page, outcome: Expect) -> None:
        files[file].append(page)
        expect[page.url] = outcome

    originals = {}
    for lang in LANGUAGES:
        for n in range(3):
            url = f"http://{lang}.news.test/article/{n}"
            page = make_page(seed + n, url, lang)
            originals[(lang, n)] = page
            add(n % 2, Page(url, page.html()), Expect(language=lang))

    # An exact copy (same text, other site, other boilerplate) later in the input: removed as dedup_exact.
    en0 = originals[("en", 0)]
    add(2, Page("http://mirror.test/copy-of-en-0", _html(en0.title, list(en0.paragraphs))),
        Expect("dedup", "dedup_exact", duplicate_of=en0.url))
    # A near copy of a German article: three words changed, Jaccard of 5-gram shingles about 0.9.
    de1 = originals[("de", 1)]
    changed = list(de1.paragraphs)
    for k in range(3):
        words = changed[k].split()
        words[4] = "Zwischenbemerkung"
        changed[k] = " ".join(words)
    add(2, Page("http://mirror.test/near-copy-of-de-1", replace(de1, paragraphs=tuple(changed)).html()),
        Expect("dedup", "dedup_near", duplicate_of=de1.url))

    # Personal data: kept, with placeholders counted (2 emails, 1 public IP, 1 IBAN; the private IP stays).
    fr2 = make_page(seed + 50, "http://fr.shop.test/contact", "fr")
    contact = ("Écrivez à marie.dupont@example.fr ou à support@shop.example.com, serveur 203.0.113.7 "
               "et 8.8.4.4 contre 10.1.2.3 interne, IBAN CH93 0076 2011 6238 5295 7.")
    paragraphs = [*fr2.paragraphs[:-1], fr2.paragraphs[-1] + " " + contact]
    add(0, Page(fr2.url, replace(fr2, paragraphs=tuple(paragraphs)).html()), Expect(language="fr", pii=(2, 1, 1)))
    # 203.0.113.7 is TEST-NET-3 (documentation, not global), so only 8.8.4.4 counts as a public IP.

    # Quality: too short (a dozen words), and spam whose most frequent word pair ("cheap watches",
    # twice per line) covers ~30% of the characters (Gopher's limit for the top 2-gram: 20%).
    # (Identical lines would not do: the extractor already drops repeated paragraphs.)
    add(1, Page("http://en.blog.test/short", _html("Short", ["The old bridge was repaired last week by the council."])),
        Expect("quality", "gopher_short_doc"))
    spam = [f"Buy cheap watches online, buy cheap watches today, offer {i} is open to the public." for i in range(30)]
    add(1, Page("http://en.blog.test/repeated", _html("Repeated", spam)), Expect("quality", "gopher_top_2_gram"))

    # Read stage: wrong status, wrong type, empty body.
    add(0, Page("http://en.blog.test/missing", _html("Not found", ["Gone."]), status=404),
        Expect("read", "read_http_status"))
    add(0, Page("http://img.test/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(300), content_type="image/png"),
        Expect("read", "read_content_type"))
    add(2, Page("http://en.blog.test/empty", b""), Expect("read", "read_empty"))
    # Extract stage: an image served as text/html, and a page that is only a script.
    add(2, Page("http://img.test/fake.html", b"GIF89a" + bytes(400), content_type="text/html"),
        Expect("extract", "extract_undecodable"))
    add(1, Page("http://app.test/", "<html><body><script>render()</script></body></html>"),
        Expect("extract", "extract_no_text"))
    return files, expect


def write_planted_corpus(directory: Path, seed: int = 0) -> tuple[list[Path], dict[str, Expect]]:
    directory.mkdir(parents=True, exist_ok=True)
    files, expect = planted_corpus(seed)
    paths = []
    for i, pages in enumerate(files):
        path = directory / f"planted-{i}.warc.gz"
        write_warc(path, pages)
        paths.append(path)
    return paths, expect
