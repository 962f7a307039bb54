"""Deterministic synthetic web corpus for benchmarks: gzip WARCs of any size, streamed, with ground truth.

    .venv/bin/python -m bench.corpus --out /tmp/c --mb 100 --files 4       # ~100 MB of WARC in 4 files
    .venv/bin/python -m bench.corpus --out /tmp/c --docs 2600 --files 2    # an exact number of pages

Why not `bench.spine`'s corpus: that one is built from ~100-word grammars (every page looks alike, so
extraction and dedup are unrealistically easy) and keeps every original page in memory. Here:

* **Text**: per language (en, de, fr, it, es) real function words (so stop-word and language filters see
  ordinary text) and a Zipfian content vocabulary (exponent ~1.05: the real words of
  `pipeline.synthetic.GRAMMARS` at the top ranks, then ~30k pseudo-words from the language's
  syllables), sentences of 6-24 words, paragraphs of 2-7 sentences, articles of 3-10 paragraphs.
* **HTML**: one of six site templates (navigation menus, cookie banner, sidebar with related links,
  share buttons, inline scripts/styles, comments block, long footer) around the article: pages weigh
  ~15-40 KB, like real news pages, and the extractor has boilerplate to remove.
* **Planted near-duplicate clusters with known Jaccard**: 12% of pages are variants of an earlier
  article (any file), re-hosted with another site's boilerplate, with k words replaced so that the
  word 5-gram Jaccard of the two article texts hits a target in `TARGET_JACCARDS` (k spaced-out
  replacements kill ~5k shingles: J = (S-5k)/(S+5k)). The exact Jaccard of the normalised texts is
  computed and written to `truth.jsonl` beside the WARCs (one line per variant: url, root url,
  target, exact Jaccard, language). Several variants of one root form a cluster.
* Also short pages, link-list pages, non-HTML bodies (PNG/PDF) and 404s, as crawls have them.
* `--state-kb K` adds ~K KB (0.5K-1.5K) of incompressible inline application state (a JSON `<script>`,
  as framework-built pages carry) to every HTML page. At the default 0 a page is ~3.4 KB of gzip, about
  a tenth of a Common Crawl capture (~30 KB: a monthly crawl is ~3 billion pages in ~100 TiB of WARC);
  `--state-kb 34` gives CC's bytes per page, so "10 GB of WARC" means CC's number of pages.

Every page is a pure function of (seed, global page index): files are generated in parallel
processes with constant memory (a variant regenerates its root's text instead of remembering it), and
the same arguments give byte-identical files. `corpus.json` records the arguments and counts.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing as mp
import sys
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

MB = 1_000_000
LANGUAGES = ("en", "de", "fr", "it", "es")
# Share of pages per kind; the rest are articles (roots of possible clusters).
KINDS: dict[str, float] = {"variant": 0.12, "short": 0.03, "links": 0.02, "non_html": 0.015, "not_found": 0.015}
# Planted variant similarities: above, at and below the LSH threshold (~0.8) and below the 0.5 no-merge bound.
TARGET_JACCARDS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5, 0.4, 0.3)
ROOT_WINDOW = 20_000  # a variant copies an article among the previous 20k pages (clusters span files)
GZIP_LEVEL = 6  # Common Crawl's WARCs are zlib level-6 gzip members, one per record
WARC_DATE = "2025-06-01T00:00:00Z"

FUNCTION_WORDS: dict[str, str] = {
    "en": "the of and to a in that is was he for it with as his on be at by i this had not are but from or have "
    "an they which one you were her all she there would their we him been has when who will more no if out so",
    "de": "der die und in den von zu das mit sich des auf für ist im dem nicht ein die eine als auch es an werden "
    "aus er hat dass sie nach wird bei einer um am sind noch wie einem über einen so zum war haben nur oder",
    "fr": "de la le et les des en un du une que est pour qui dans a par plus pas au sur ne se le ce il sont "
    "les ou mais avec son sa comme on nous elle été aux leur cette tout fait peut ses deux même",
    "it": "di e il la che in a per un del non è una le i da con si al della sono dei anche come più ma nel "
    "lo gli ha alla delle questo se ci degli nella o loro suo tra dal stato essere sua fatto",
    "es": "de la que el en y a los se del las un por con no una su para es al lo como más pero sus le ya o "
    "este sí porque esta entre cuando muy sin sobre también me hasta hay donde quien desde todo nos",
}
SYLLABLES: dict[str, str] = {
    "en": "th er on an re he in ed nd ha at en es of or nt ea ti to it st io le is ou ar as de rt ve ing ly tion",
    "de": "en er ch de ei te in nd ie ge st ne be es un re an he au ng se it di ic sch ung keit lich ver zu",
    "fr": "es le de en on nt re ou ai an er te et la ur se ti ne me qu eu eau tion ment ch oi ée ier",
    "it": "re er to ra la no an on di ta co ri el in te li zi one io ca ti ne lo mo gli zione mente tto",
    "es": "de en es os la ra er ar el as on an re co ci ta ad ent ión do to ue mente ción qu ll ñ",
}
EXTRA_WORDS = 30_000  # pseudo-words per language after the real ones
ZIPF_EXPONENT = 1.05
ZIPF_OFFSET = 20  # Zipf-Mandelbrot: flattens the head so no content word dominates (function words do)


@dataclass(frozen=True)
class Vocabulary:
    """A language's words as numpy object arrays in four spellings (plain, Capitalised, with '.', both)."""

    function: np.ndarray
    function_p: np.ndarray
    content: np.ndarray
    content_cdf: np.ndarray
    forms: dict[str, np.ndarray]  # key -> array over [function..., content...]


@cache
def vocabulary(language: str) -> Vocabulary:
    """Built once per process from a fixed seed, so every process and run sees the same words."""
    from pipeline.synthetic import GRAMMARS

    rng = np.random.default_rng(LANGUAGES.index(language) + 1000)
    function = np.array(FUNCTION_WORDS[language].split(), dtype=object)
    function_p = 1.0 / np.arange(1, len(function) + 1) ** 0.8
    function_p /= function_p.sum()
    real: list[str] = []
    for slot in ("noun", "verb", "adj"):
        real += [w for w in GRAMMARS.get(language, GRAMMARS["en"])[slot] if " " not in w]
    syllables = np.array(SYLLABLES[language].split(), dtype=object)
    seen = set(real) | set(function)
    extra: list[str] = []
    while len(extra) < EXTRA_WORDS:
        n = int(rng.integers(2, 5))
        word = "".join(rng.choice(syllables, n))
        if word not in seen:
            seen.add(word)
            extra.append(word)
    content = np.array(real + extra, dtype=object)
    p = 1.0 / (np.arange(1, len(content) + 1) + ZIPF_OFFSET) ** ZIPF_EXPONENT
    cdf = np.cumsum(p / p.sum())
    words = np.concatenate([function, content])
    caps = np.array([w[:1].upper() + w[1:] for w in words], dtype=object)
    forms = {"plain": words, "cap": caps, "stop": words + ".", "capstop": caps + "."}
    return Vocabulary(function, function_p, content, cdf, forms)


def _rng(seed: int, index: int, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, index, salt])


def kind_of(seed: int, index: int) -> str:
    """The kind of page `index` (a pure function, so any process can ask about any page)."""
    if index < 50:
        return "article"
    r = _rng(seed, index, 1).random()
    acc = 0.0
    for kind, share in KINDS.items():
        acc += share
        if r < acc:
            return kind
    return "article"


def language_of(seed: int, index: int, languages: tuple[str, ...] = LANGUAGES) -> str:
    return languages[int(_rng(seed, index, 2).integers(len(languages)))]


def article_words(seed: int, index: int, language: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(word ids into the vocabulary forms, sentence-start flags, paragraph word counts) of an article."""
    voc = vocabulary(language)
    rng = _rng(seed, index, 3)
    paragraphs = int(rng.integers(3, 11))
    sentences = rng.integers(2, 8, paragraphs)
    lengths = rng.integers(6, 25, int(sentences.sum()))
    n = int(lengths.sum())
    is_function = rng.random(n) < 0.42
    ids = np.where(
        is_function,
        rng.choice(len(voc.function), n, p=voc.function_p),
        len(voc.function) + np.minimum(np.searchsorted(voc.content_cdf, rng.random(n)), len(voc.content) - 1),
    )
    starts = np.zeros(n, dtype=bool)
    starts[np.cumsum(lengths) - lengths] = True
    para_words = [int(x) for x in np.add.reduceat(lengths, np.cumsum(sentences) - sentences)]
    return ids, starts, para_words


def render_words(ids: np.ndarray, starts: np.ndarray, para_words: list[int], language: str) -> list[str]:
    """Paragraph strings: capitalised sentence starts, a full stop before each start and at the end."""
    forms = vocabulary(language).forms
    ends = np.zeros(len(ids), dtype=bool)
    ends[:-1] = starts[1:]
    ends[-1] = True
    code = starts.astype(np.int8) + 2 * ends.astype(np.int8)
    out = np.empty(len(ids), dtype=object)
    for c, key in enumerate(("plain", "cap", "stop", "capstop")):
        sel = code == c
        out[sel] = forms[key][ids[sel]]
    bounds = np.cumsum([0, *para_words])
    return [" ".join(out[bounds[k] : bounds[k + 1]]) for k in range(len(para_words))]


def shingle_set(words: list[str], k: int = 5) -> set[tuple[str, ...]]:
    """Word k-gram set of already-normalised words (fewer than k words: one shingle of all of them)."""
    if len(words) < k:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + k]) for i in range(len(words) - k + 1)}


def normalised_words(ids: np.ndarray, language: str) -> list[str]:
    """What `pipeline.fingerprints.normalise` makes of the article: lower case, no punctuation."""
    return [w.lower() for w in vocabulary(language).forms["plain"][ids]]


def jaccard_of(a: np.ndarray, b: np.ndarray, language: str) -> float:
    x, y = shingle_set(normalised_words(a, language)), shingle_set(normalised_words(b, language))
    return len(x & y) / len(x | y) if x | y else 1.0


@dataclass
class Document:
    """One generated page: what the WARC holds, and what is known about it by construction."""

    index: int
    url: str
    kind: str
    language: str
    title: str = ""
    paragraphs: list[str] | None = None
    root: int | None = None
    target_jaccard: float | None = None
    jaccard: float | None = None
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    body: bytes = b""

    @property
    def text(self) -> str:
        """The article text (paragraphs separated by blank lines), as an extractor should find it."""
        return "\n\n".join(self.paragraphs or [])


def _host(seed: int, index: int, language: str, prefix: str = "site") -> str:
    return f"{language}.{prefix}{int(_rng(seed, index, 4).integers(5000)):04d}.test"


def url_of(seed: int, index: int, languages: tuple[str, ...] = LANGUAGES) -> str:
    """A page's URL depends only on (seed, index), so a variant can name its root without generating it."""
    kind, language = kind_of(seed, index), language_of(seed, index, languages)
    prefix = "mirror" if kind == "variant" else "site"
    return f"https://{_host(seed, index, language, prefix)}/{kind}/{index}"


def _find_root(seed: int, index: int) -> int:
    rng = _rng(seed, index, 5)
    for _ in range(64):
        j = int(rng.integers(max(0, index - ROOT_WINDOW), index))
        if kind_of(seed, j) == "article":
            return j
    return 0  # page 0 is always an article


def document(seed: int, index: int, *, with_text: bool = True, languages: tuple[str, ...] = LANGUAGES) -> Document:
    """Page `index` of the corpus with seed `seed` (HTML body filled in by `render_html`)."""
    kind = kind_of(seed, index)
    language = language_of(seed, index, languages)
    doc = Document(index, url_of(seed, index, languages), kind, language)
    rng = _rng(seed, index, 6)
    if kind in ("article", "variant"):
        source = _find_root(seed, index) if kind == "variant" else index
        if kind == "variant":
            language = doc.language = language_of(seed, source, languages)
            doc.url = f"https://{_host(seed, index, language, 'mirror')}/variant/{index}"
        ids, starts, para_words = article_words(seed, source, language)
        title_ids = ids[: int(_rng(seed, source, 7).integers(4, 9))]
        if kind == "variant":
            doc.root = source
            target = float(rng.choice(TARGET_JACCARDS))
            doc.target_jaccard = target
            new = ids.copy()
            shingles = max(1, len(ids) - 4)
            k = round(shingles * (1 - target) / (5 * (1 + target)))
            if k:
                slots = rng.choice(max(1, len(ids) // 5), size=min(k, len(ids) // 5), replace=False)
                pos = np.minimum(slots * 5 + int(rng.integers(0, 5)), len(ids) - 1)
                voc = vocabulary(language)
                new[pos] = len(voc.function) + rng.integers(0, len(voc.content), len(pos))
            doc.jaccard = round(jaccard_of(ids, new, language), 4) if with_text else None
            ids = new
        if with_text:
            doc.paragraphs = render_words(ids, starts, para_words, language)
            doc.title = " ".join(vocabulary(language).forms["cap"][title_ids])
    elif kind == "short":
        ids, starts, para_words = article_words(seed, index, language)
        cut = int(rng.integers(5, 30))
        doc.paragraphs = render_words(ids[:cut], starts[:cut], [cut], language)
        doc.title = doc.paragraphs[0][:40]
    return doc


# ---------------------------------------------------------------------------------------------- HTML

_STYLE = "<style>body{font-family:Georgia,serif;margin:0}nav a{padding:4px 8px}.ad{display:none}</style>"
_SCRIPT = (
    "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}"
    "gtag('js',new Date());gtag('config','G-BENCH');"
    + "".join(f"var cfg{i}={{slot:'ad-{i}',sizes:[[300,250],[728,90]],lazy:true,refresh:{30 + i}}};" for i in range(24))
    + "</script>"
)


def _menu(rng: np.random.Generator, language: str, n: int, cls: str) -> str:
    words = vocabulary(language).forms["cap"]
    items = "".join(
        f'<li><a href="/{w.lower()}/{int(rng.integers(1000))}">{w}</a></li>'
        for w in words[rng.integers(len(FUNCTION_WORDS[language].split()), len(words) // 50, n)]
    )
    return f'<ul class="{cls}">{items}</ul>'


def _app_state(seed: int, index: int, state_kb: float) -> str:
    """An inline JSON state blob of 0.5-1.5 x `state_kb` KB of base64 (random, so gzip cannot shrink it)."""
    if not state_kb:
        return ""
    rng = _rng(seed, index, 10)
    raw = rng.bytes(int(state_kb * 768 * rng.uniform(0.5, 1.5)))  # 3 raw bytes -> 4 base64 characters
    return f'<script id="__APP_STATE__" type="application/json">"{base64.b64encode(raw).decode()}"</script>'


def render_html(seed: int, doc: Document, state_kb: float = 0) -> bytes:
    """The page around the article: one of six site templates chosen by host, with boilerplate blocks."""
    if doc.kind == "non_html":
        rng = _rng(seed, doc.index, 8)
        if rng.random() < 0.5:
            doc.content_type = "image/png"
            return b"\x89PNG\r\n\x1a\n" + rng.bytes(int(rng.integers(500, 8000)))
        doc.content_type = "application/pdf"
        return b"%PDF-1.4\n" + rng.bytes(int(rng.integers(1000, 8000)))
    if doc.kind == "not_found":
        doc.status = 404
        return (
            b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1>"
            b"<p>The requested URL was not found on this server.</p></body></html>"
        )
    import html as h

    host = doc.url.split("/")[2]
    template = int(hashlib.blake2b(host.encode(), digest_size=2).hexdigest(), 16) % 6
    rng = _rng(seed, doc.index, 9)
    lang = doc.language
    nav = f"<nav class='main'>{_menu(rng, lang, 30 + template * 4, 'menu')}</nav>"
    cookie = (
        "<div id='cookie-banner' class='consent'>We use cookies to personalise content and ads and to analyse "
        "our traffic. <button>Accept all</button> <button>Settings</button></div>"
    )
    sidebar = f"<aside class='related'><h3>Related</h3>{_menu(rng, lang, 10 + template, 'related')}</aside>"
    share = "<div class='share'><a href='#'>Share</a> <a href='#'>Tweet</a> <a href='#'>Mail</a></div>"
    footer = (
        f"<footer><p>© 2025 {h.escape(host)} · <a href='/imprint'>Imprint</a> · <a href='/privacy'>Privacy</a>"
        f"</p>{_menu(rng, lang, 40, 'footer-links')}</footer>"
    )
    if doc.kind == "links":
        body = f"{nav}{cookie}<main>{_menu(rng, lang, int(rng.integers(20, 60)), 'index')}</main>{footer}"
        title = f"Index {doc.index}"
    else:
        paras = "\n".join(f"<p>{h.escape(p)}</p>" for p in doc.paragraphs or [])
        comments = ""
        if template in (1, 4):
            comments = "<section class='comments'><h3>Comments</h3><p>Be the first to comment.</p></section>"
        article = f"<article><h1>{h.escape(doc.title)}</h1><div class='byline'>{share}</div>\n{paras}\n</article>"
        parts = [nav, cookie if template % 2 == 0 else "", article, comments, sidebar if template < 4 else "", footer]
        body = "\n".join(p for p in parts if p)
        title = doc.title
    head = (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{h.escape(title)}</title>{_STYLE}{_SCRIPT if template != 3 else ''}"
        f"{_app_state(seed, doc.index, state_kb)}</head>\n"
    )
    return (head + f"<body class='t{template}'>\n{body}\n{_SCRIPT}</body></html>\n").encode()


# ---------------------------------------------------------------------------------------------- WARC


def _gzip_member(data: bytes) -> bytes:
    comp = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()


def _warc_record(rec_type: str, url: str | None, content_type: str, block: bytes, record_id: str,
                 extra: dict[str, str] | None = None) -> bytes:
    headers = {"WARC-Type": rec_type, "WARC-Record-ID": f"<urn:uuid:{record_id}>", "WARC-Date": WARC_DATE}
    if url:
        headers["WARC-Target-URI"] = url
    headers |= extra or {}
    headers["Content-Type"] = content_type
    headers["Content-Length"] = str(len(block))
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode() + block + b"\r\n\r\n"


def warc_response(seed: int, doc: Document, state_kb: float = 0) -> bytes:
    """One gzip member holding the page's `response` record (with a WARC-Payload-Digest, as crawlers write)."""
    body = render_html(seed, doc, state_kb)
    reason = {200: "OK", 404: "Not Found"}[doc.status]
    http = (
        f"HTTP/1.1 {doc.status} {reason}\r\nContent-Type: {doc.content_type}\r\n"
        f"Content-Length: {len(body)}\r\nServer: bench\r\n\r\n"
    ).encode() + body
    digest = "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()
    record_id = str(uuid.UUID(bytes=hashlib.blake2b(f"{seed}-{doc.index}".encode(), digest_size=16).digest()))
    return _gzip_member(
        _warc_record("response", doc.url, "application/http; msgtype=response", http, record_id,
                     {"WARC-Payload-Digest": digest})
    )


def file_pages(seed: int, docs: int, files: int, file_index: int) -> range:
    """Global page indices written to file `file_index` (contiguous blocks, sizes differ by at most one)."""
    per, extra = divmod(docs, files)
    start = file_index * per + min(file_index, extra)
    return range(start, start + per + (file_index < extra))


def write_file(out: str, seed: int, docs: int, files: int, file_index: int,
               languages: tuple[str, ...] = LANGUAGES, state_kb: float = 0) -> dict:
    """Write one WARC (and its part of the ground truth); constant memory: one page at a time."""
    directory = Path(out)
    path = directory / f"corpus-{file_index:04d}.warc.gz"
    truth_path = directory / f"truth-{file_index:04d}.jsonl"
    kinds: Counter[str] = Counter()
    with open(path, "wb") as warc, open(truth_path, "w") as truth:
        info = f"software: apertura bench.corpus\r\nseed: {seed}\r\nfile: {file_index}\r\n".encode()
        warc.write(_gzip_member(_warc_record("warcinfo", None, "application/warc-fields", info,
                                             str(uuid.UUID(int=seed * 1_000_003 + file_index)))))
        for index in file_pages(seed, docs, files, file_index):
            doc = document(seed, index, languages=languages)
            warc.write(warc_response(seed, doc, state_kb))
            kinds[doc.kind] += 1
            if doc.kind == "variant":
                line = {
                    "url": doc.url,
                    "root_url": url_of(seed, doc.root, languages),
                    "target_jaccard": doc.target_jaccard,
                    "jaccard": doc.jaccard,
                    "language": doc.language,
                }
                truth.write(json.dumps(line) + "\n")
    return {"file": str(path), "bytes": path.stat().st_size, "kinds": dict(kinds)}


def bytes_per_page(seed: int, sample: int = 300, languages: tuple[str, ...] = LANGUAGES, state_kb: float = 0) -> float:
    """Average gzip record size over the first `sample` pages (used to turn --mb into a page count)."""
    pages = (warc_response(seed, document(seed, i, languages=languages), state_kb) for i in range(sample))
    return sum(map(len, pages)) / sample


def generate(out: Path, *, seed: int = 0, docs: int | None = None, mb: float | None = None, files: int = 1,
             processes: int = 2, languages: tuple[str, ...] = LANGUAGES, state_kb: float = 0) -> dict:
    """Write the corpus (`docs` pages, or about `mb` MB) into `out`; return and save its summary."""
    out.mkdir(parents=True, exist_ok=True)
    if docs is None:
        docs = max(files, round((mb or 10) * MB / bytes_per_page(seed, languages=languages, state_kb=state_kb)))
    started = time.perf_counter()
    args = [(str(out), seed, docs, files, f, tuple(languages), state_kb) for f in range(files)]
    if processes > 1 and files > 1:
        with mp.get_context("spawn").Pool(min(processes, files)) as pool:
            results = pool.starmap(write_file, args)
    else:
        results = [write_file(*a) for a in args]
    with open(out / "truth.jsonl", "w") as truth:
        for f in range(files):
            part = out / f"truth-{f:04d}.jsonl"
            truth.write(part.read_text())
            part.unlink()
    kinds: Counter[str] = Counter()
    for r in results:
        kinds.update(r["kinds"])
    summary = {
        "generator": "bench.corpus",
        "seed": seed,
        "state_kb": state_kb,
        "docs": docs,
        "files": [r["file"] for r in results],
        "bytes": sum(r["bytes"] for r in results),
        "kinds": dict(kinds),
        "languages": list(languages),
        "target_jaccards": TARGET_JACCARDS,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out / "corpus.json").write_text(json.dumps(summary, indent=1))
    return summary


def iter_documents(seed: int, docs: int, languages: tuple[str, ...] = LANGUAGES) -> Iterator[Document]:
    """Pages 0..docs-1 without HTML: the texts the dedup quality benchmark signs directly."""
    for index in range(docs):
        yield document(seed, index, languages=languages)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the WARCs, truth.jsonl, corpus.json")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--docs", type=int, help="number of pages")
    size.add_argument("--mb", type=float, help="approximate total size of the gzip WARCs, MB (10^6 B)")
    parser.add_argument("--files", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--languages", default=",".join(LANGUAGES), help="comma-separated, from " + ",".join(LANGUAGES))
    parser.add_argument("--processes", type=int, default=2, help="files generated in parallel")
    parser.add_argument("--state-kb", type=float, default=0,
                        help="KB of incompressible inline state per HTML page (34: Common Crawl's ~30 KB per page)")
    args = parser.parse_args(argv)
    summary = generate(args.out, seed=args.seed, docs=args.docs, mb=args.mb, files=args.files,
                       processes=args.processes, languages=tuple(args.languages.split(",")), state_kb=args.state_kb)
    print(json.dumps({k: v for k, v in summary.items() if k != "files"}), file=sys.stderr)


if __name__ == "__main__":
    main()
