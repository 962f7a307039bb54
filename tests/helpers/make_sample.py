"""Regenerate the sample WARCs shipped in data/sample (used by `make demo` until the crawler lands).

    python -m tests.helpers.make_sample data/sample

The planted corpus (pages with known fates) plus a few dozen ordinary multilingual articles.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.synthetic import LANGUAGES, make_page
from tests.helpers.corpus import planted_corpus
from tests.helpers.warcs import Page, write_warc

SITES = {"en": "harbour-times.test", "de": "bergblatt.test", "fr": "gazette-du-lac.test", "it": "eco-della-valle.test"}


def main(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    files, _ = planted_corpus(seed=0)
    for i, lang in enumerate(LANGUAGES):
        for n in range(10):
            url = f"http://{SITES[lang]}/{2025 - n % 3}/story-{n}"
            page = make_page(1000 + n, url, lang, paragraphs=4 + n % 4)
            files[(i + n) % len(files)].append(Page(url, page.html(), date=f"2025-0{1 + n % 9}-1{n % 10}T08:00:00Z"))
    for i, pages in enumerate(files):
        write_warc(directory / f"sample-{i}.warc.gz", pages)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "data/sample"))
