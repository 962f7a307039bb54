"""A small release with planted copies, built with the real pipeline (`apertura run`), and its index.

What each page must become is known by construction: kept articles in en/de/fr/it/ru, one long essay, an
exact copy on mirror.test (removed as dedup_exact), a page under example.org/private/ reserved by
robots.txt (removed as opted out) whose text is also on mirror.net (kept), a Cyrillic page removed by the
quality filter; and for text identity: a German page with soft hyphens inside its long words (kept), a copy of
de.site.test/a/1 with zero-width characters inside its words (removed as dedup_exact), and a page with an
e-mail address and a public IP address (kept, with placeholders).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.synthetic import make_page
from tests.helpers.shared_build import build_once
from tests.helpers.text_identity import soft_hyphens, zero_width
from tests.helpers.warcs import Page, write_warc

LANGS = ("en", "de", "fr", "it")
_RU = {
    "s": "Старый_мост Новая_библиотека Местный_совет Молодой_инженер Известный_музей Тихая_река Большой_рынок "
    "Сельская_школа Северный_вокзал Городской_архив",
    "v": "описывает обсуждал изучает опубликовал подготовил улучшает посетил восстановил планирует поддерживает",
    "o": "новый_план старую_карту городской_сад узкую_улицу светлую_башню лесную_мельницу школьный_оркестр "
    "речную_долину шумный_рынок тихий_парк",
    "a": "после_долгой_зимы перед_большим_праздником во_время_дождя рядом_с_рекой без_лишнего_шума "
    "каждое_утро в_прошлом_году вместе_с_жителями на_краю_города под_старыми_деревьями",
}


def russian_paragraphs(seed: int, paragraphs: int = 5) -> list[str]:
    """Cyrillic sentences from a small grammar (subject verb object adverbial), like pipeline.synthetic."""
    rng = random.Random(seed)
    pick = {k: v.split() for k, v in _RU.items()}
    out = []
    for _ in range(paragraphs):
        sentences = [
            " ".join(rng.choice(pick[k]).replace("_", " ") for k in "svoa") + "." for _ in range(rng.randint(5, 7))
        ]
        out.append(" ".join(sentences))
    return out


EMAIL, PUBLIC_IP = "anna.meier@example.ch", "8.8.8.8"  # on http://en.contact.test/team
CONTACT = f"Write to {EMAIL} or reach the archive server at {PUBLIC_IP} on any working day."


def html(title: str, paragraphs: list[str], lang: str = "en") -> str:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<html lang="{lang}"><head><title>{title}</title></head><body><nav>Home | About | Contact</nav>'
        f"<article><h1>{title}</h1>{body}</article><footer>All rights reserved.</footer></body></html>"
    )


@dataclass
class Planted:
    release: Path
    texts: dict[str, str]  # url -> the paragraphs joined as the extractor returns them (approximately)
    paragraphs: dict[str, list[str]]
    kept: list[str]  # urls expected in the documents table


@pytest.fixture(scope="session")
def planted_index(tmp_path_factory) -> Planted:
    from pipeline.cli import app
    from pipeline.index import build_index

    root = tmp_path_factory.mktemp("index-release")
    paragraphs: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    pages: list[Page] = []

    def add(url: str, title: str, paras: list[str], lang: str = "en") -> None:
        paragraphs[url], titles[url] = paras, title
        pages.append(Page(url, html(title, paras, lang)))

    pages.append(Page("http://example.org/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain"))
    for lang in LANGS:
        for k in range(4):
            p = make_page(100 + k, f"http://{lang}.site.test/a/{k}", lang)
            add(p.url, p.title, list(p.paragraphs), lang)
    essay = make_page(500, "http://en.long.test/essay", "en", paragraphs=30)
    add(essay.url, essay.title, list(essay.paragraphs))
    add("http://ru.site.test/statya", "Новости города", russian_paragraphs(7), "ru")
    # a second Cyrillic page: this seed repeats enough 5-grams for the quality filter (gopher_dup_5_gram),
    # so it is removed with its text kept in the ledger: a removed, non-Latin copy
    add("http://ru.site.test/vtoraya", "Городская жизнь", russian_paragraphs(8), "ru")
    story = make_page(600, "http://example.org/private/story", "en")
    add(story.url, story.title, list(story.paragraphs))
    add("http://mirror.net/story", story.title, list(story.paragraphs))  # kept: mirror.net has no robots.txt
    en0 = "http://en.site.test/a/0"
    add("http://mirror.test/copy-of-en-0", titles[en0], paragraphs[en0])  # removed as dedup_exact
    shy = make_page(520, "http://de.lexikon.test/eintrag", "de")
    add(shy.url, shy.title, [soft_hyphens(p) for p in shy.paragraphs], "de")
    de1 = "http://de.site.test/a/1"  # removed as dedup_exact: the same text but for invisible characters
    add("http://zw.mirror.test/kopie", titles[de1], [zero_width(p) for p in paragraphs[de1]], "de")
    contact = make_page(521, "http://en.contact.test/team", "en")
    add(contact.url, contact.title, [*contact.paragraphs[:-1], f"{contact.paragraphs[-1]} {CONTACT}"])

    def build(where: Path) -> None:
        warc = where / "planted-index.warc.gz"
        write_warc(warc, pages)
        result = CliRunner().invoke(
            app, ["run", str(warc), "--out", str(where / "rel"), "--extractor", "resiliparse", "--no-index"]
        )
        assert result.exit_code == 0, result.output
        build_index(where / "rel")

    # tests only read it (they change copies): `make mutate` shares one build between the membership mutants
    release = build_once("APERTURA_INDEX_RELEASE", build, root) / "rel"
    removed = (
        "http://example.org/private/story",
        "http://mirror.test/copy-of-en-0",
        "http://ru.site.test/vtoraya",
        "http://zw.mirror.test/kopie",
    )
    kept = [u for u in paragraphs if u not in removed]
    texts = {u: "\n\n".join(p) for u, p in paragraphs.items()}
    return Planted(release, texts, paragraphs, kept)


@pytest.fixture(scope="session")
def index(planted_index):
    from pipeline.index import open_index

    return open_index(planted_index.release)


@pytest.fixture(scope="session")
def docs(planted_index) -> dict[str, tuple[str, str]]:
    """url -> (id, text) of every kept document, read back from the release."""
    import duckdb

    rows = duckdb.sql(
        f"SELECT url, id, text FROM read_parquet('{planted_index.release}/documents/*.parquet')"
    ).fetchall()
    return {url: (doc_id, text) for url, doc_id, text in rows}


def mutate(text: str, every: int, tag: str = "zzq") -> str:
    """Every `every`-th word replaced by a word that occurs nowhere: a near copy of known shingle Jaccard."""
    out = text.split()
    for i in range(every - 1, len(out), every):
        out[i] = f"{tag}{i}"
    return " ".join(out)


def true_jaccard(a: str, b: str) -> float:
    """Jaccard of the dedup shingle sets (word 5-grams of the normalised texts), computed directly."""
    from pipeline.index.compare import jaccard, shingle_sets

    sa, sb = shingle_sets([a, b], 5)
    return jaccard(sa, sb)
