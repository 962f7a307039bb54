"""Quality rules: one constructed text per reason, clean pages in three languages kept, and the
Gopher statistics checked against a plain-Python computation written from the paper's definitions."""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter

import polars as pl
import pytest

from pipeline.config import C4Config, FineWebConfig, GopherConfig, QualityConfig, RunConfig
from pipeline.steps.quality import (
    QualityStep,
    fineweb_stats,
    gopher_quality_stats,
    gopher_repetition_stats,
    ngram_chars,
)

ENGLISH = "\n\n".join(
    [
        "The old harbour of our town was rebuilt after the storm of 1953, and most of the stone walls you see"
        " today date from that time. Fishermen still land their catch there every morning, although the fleet"
        " is much smaller than it used to be.",
        "In summer the quay becomes a market. Farmers from the valley bring cheese, honey and vegetables, "
        "while a few families sell smoked fish from wooden stalls that have been passed down for generations.",
        "Visitors often ask why the lighthouse is painted red and white. The answer is practical: the colours"
        " make it easy to recognise from the sea in daylight, when its lamp is of no use to sailors.",
        "A small museum near the church tells the story of the harbour with photographs, old nets and the "
        "logbook of a lifeboat crew. Entry is free, but the volunteers who run it are grateful for donations.",
    ]
)

GERMAN = "\n\n".join(
    [
        "Die kleine Stadt liegt am Ufer eines ruhigen Sees und ist von bewaldeten Hügeln umgeben. Im Sommer "
        "kommen viele Familien, um zu baden, zu wandern oder einfach auf einer Bank am Wasser zu sitzen.",
        "Der Wochenmarkt findet jeden Samstag auf dem Platz vor dem Rathaus statt. Bauern aus der Umgebung "
        "verkaufen dort Käse, Brot, Obst und Gemüse, und im Herbst gibt es frischen Apfelsaft direkt von der "
        "Presse.",
        "Wer sich für Geschichte interessiert, sollte das Heimatmuseum besuchen. Es zeigt alte Werkzeuge, "
        "Trachten und Fotografien, die das Leben der Fischer und Handwerker vor hundert Jahren dokumentieren.",
        "Am Abend spielt manchmal eine Blaskapelle im Park, während die Sonne langsam hinter den Bergen verschwindet.",
    ]
)

FRENCH = "\n\n".join(
    [
        "Le village se trouve au pied d'une colline couverte de vignes, à quelques kilomètres de la rivière. "
        "Chaque automne, les habitants se retrouvent pour les vendanges, qui durent souvent plus de deux "
        "semaines.",
        "La boulangerie ouvre très tôt le matin, et l'odeur du pain chaud se répand dans les ruelles "
        "étroites. Les enfants s'arrêtent souvent devant la vitrine pour regarder les gâteaux avant d'aller à"
        " l'école.",
        "Le dimanche, un petit marché s'installe sur la place de l'église. On y trouve des fromages de "
        "chèvre, du miel, des légumes de saison et parfois des livres anciens vendus par un bouquiniste de la"
        " ville voisine.",
        "Les randonneurs apprécient les sentiers balisés qui mènent jusqu'au sommet, d'où l'on aperçoit les "
        "Alpes par temps clair.",
    ]
)

# Unique lines without any English stop word (for the stop-word rule and its language switch).
NO_STOP_WORDS = """\
Bright orange kites danced above windy hills yesterday afternoon.
Several children chased them across muddy fields, laughing loudly.
Parents watched from wooden benches near an ancient oak tree.
Later everybody walked home through narrow village lanes.
Warm soup waited inside, served alongside fresh bread.
Grandmother told stories about winters long ago, when snow covered every roof.
Nobody wanted dessert after such generous portions.
"""


def run(text: str, language: str = "en", **quality: object) -> pl.DataFrame:
    """Annotate one document; `quality` overrides QualityConfig sections."""
    step = QualityStep(RunConfig(quality=QualityConfig(**quality)))
    return step.annotate(pl.DataFrame({"text": [text], "language": [language]}))


def verdict(text: str, language: str = "en", **quality: object) -> tuple[str | None, str | None]:
    row = run(text, language, **quality).row(0, named=True)
    return row["_reason"], row["_detail"]


def lines(*items: str) -> str:
    return "\n".join(items) + "\n"


PARAGRAPHS = ENGLISH.strip().split("\n\n")
BASE = PARAGRAPHS[0] + "\n" + PARAGRAPHS[1]  # two clean paragraphs as two lines, 78 words
SENTENCE_LINES = ENGLISH.replace(". ", ".\n").replace(": ", ":\n")  # same paragraphs, one sentence a line

# One text per reason, constructed so that every earlier rule passes; (reason, text, detail, overrides).
CASES: list[tuple[str, str, str, dict]] = [
    ("gopher_short_doc", "The cat sat on the mat and looked at the door.", "words=11 < 50", {}),
    ("gopher_long_doc", BASE, "words=78 > 60", {"gopher": GopherConfig(max_words=60)}),
    (
        "gopher_mean_word_length",
        " ".join(["I am in a big red box and he is by the cat, so we sit on it."] * 4),
        "mean_word_length=2.278 < 3",
        {},
    ),
    (
        "gopher_mean_word_length",
        " ".join(
            ["Internationalisation of telecommunications infrastructure necessitates extraordinary coordination."] * 8
        ),
        "mean_word_length=13.0 > 10",
        {},
    ),
    (
        "gopher_symbol_word_ratio",
        BASE + " #news #harbour #market #fish #storm #museum #summer #stalls #boats #quay",
        "hash_word_ratio=0.114 > 0.1",
        {},
    ),
    (
        "gopher_symbol_word_ratio",
        PARAGRAPHS[0] + " Well... the boats... the nets... the gulls... the rain... the wind... and then… the storm… "
        "and after it... silence... and we waited... and waited...\n" + PARAGRAPHS[1],
        "ellipsis_word_ratio=0.118 > 0.1",
        {},
    ),
    (
        "gopher_bullet_lines",
        lines(*(f"• Item {w} is available in the shop at the corner of the square." for w in "abcdefghij")),
        "bullet_line_frac=1.0 > 0.9",
        {},
    ),
    (
        "gopher_ellipsis_lines",
        lines(
            "We walked along the river and talked about the weather and the plans for the week...",
            "The bridge was closed for repairs, so we had to take the longer path through the park.",
            "Then the rain started and we looked for shelter under the trees near the old mill...",
            "Nobody had brought an umbrella, which in hindsight was a rather foolish decision.",
        ),
        "ellipsis_line_frac=0.5 > 0.3",
        {},
    ),
    (
        "gopher_few_alpha_words",
        BASE + " " + " ".join(str(1000 + 37 * i) for i in range(60)),
        "alpha_word_frac=0.558 < 0.8",
        {},
    ),
    ("gopher_few_stop_words", NO_STOP_WORDS, "stop_words=0 < 2", {}),
    (
        "gopher_dup_line_frac",
        BASE + "\n" + lines(*["Please remember to close the gate behind you when you leave the field."] * 4),
        "dup_line_frac=0.5 > 0.3",
        {},
    ),
    (
        "gopher_dup_para_frac",
        SENTENCE_LINES + "\n\nShare this page.\n\nShare this page.\n\nShare this page.\n\nShare this page.",
        "dup_para_frac=0.375 > 0.3",
        {},
    ),
    (
        "gopher_dup_line_char_frac",
        BASE + "\n" + lines(*[PARAGRAPHS[2].replace("\n", " ")] * 2),
        "dup_line_char_frac=0.233 > 0.2",
        {},
    ),
    (
        "gopher_dup_para_char_frac",
        "\n\n".join([PARAGRAPHS[0], PARAGRAPHS[2], PARAGRAPHS[3], PARAGRAPHS[0]]),
        "dup_para_char_frac=0.273 > 0.2",
        {"gopher": GopherConfig(dup_line_char_frac=None)},
    ),
    (
        "gopher_top_2_gram",
        lines(
            *(
                f"the green apple and the green apple {w} are sold with green apple jam."
                for w in ("pie", "cake", "juice", "tart", "cider", "sauce", "bread", "crumble")
            )
        ),
        "top_2_gram_char_frac=0.454 > 0.2",
        {},
    ),
    (
        "gopher_dup_5_gram",
        lines(
            *(
                f"{s} It will be out by the end of May, so keep an eye on this page."
                for s in (
                    "Volunteers repaired the wooden footbridge over the stream behind the primary school.",
                    "Heavy rain flooded two cellars in the lower village during the night from Friday.",
                    "Our bakery won a regional prize for its rye bread, which uses an old family recipe.",
                    "A new bus line opened between the railway station and the hospital on the hill.",
                    "Schools reopened on Monday after the autumn holidays with three new teachers.",
                    "The mayor visited the clinic and spoke with nurses about their working hours.",
                )
            )
        ),
        "dup_5_gram_char_frac=0.237 > 0.15",
        {},
    ),
    ("c4_lorem_ipsum", BASE + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", "line 3", {}),
    ("c4_curly_bracket", BASE + "\nCall it like this: render(page) { return page.body; } and wait.", "line 3", {}),
    (
        "c4_empty_after_line_filter",
        lines(
            "Please read our privacy policy before you send us any personal information at all.",
            "This website uses cookies to remember your settings and to measure how often pages are read.",
            "Enable JavaScript in your browser to see the interactive map of the harbour and the quay.",
            "By continuing you accept the terms of use that apply to every visitor of the web site.",
            "Our cookie policy explains which cookies we store and for how long they are kept there.",
        ),
        "lines_kept=0 of 6",
        {},
    ),
    (
        "c4_too_few_sentences",
        lines(
            "The old harbour of our town was rebuilt after the storm of 1953 and most of the walls you see today "
            "date from that time, when the fleet was larger.",
            "Fishermen still land their catch there every morning, although the number of boats has fallen a lot "
            "over the last decades because young people move away.",
        ),
        "c4_sentences=2 < 5",
        {},
    ),
    (
        "fineweb_line_punct_ratio",
        lines(
            "Local council approves new budget for schools",
            "Heavy rain expected across the northern valleys tonight",
            "Football club signs young striker from Lisbon",
            "Museum reopens after two years of renovation work",
            "Farmers worry about a dry summer and low prices",
            "Train services disrupted by signal failure near Bern",
            "New bicycle lanes planned along the lake shore",
            "Students win national robotics competition in Zurich",
            "Hospital opens a children's ward with forty beds",
            "Bakery celebrates one hundred years on Main Street",
        )
        + "All of these stories are updated every hour.",
        "line_punct_ratio=0.091 <= 0.12",
        {},
    ),
    (
        "fineweb_short_line_ratio",
        lines(
            "The dog ran to the barn.",
            "A cat slept on the wall.",
            "Two birds sang in a tree.",
            "The farmer fed his cows.",
            "Rain fell on the red roof.",
            "A boy read in the garden.",
            "The baker sold warm bread.",
            "Snow lay on the far hills.",
            "The river was very cold.",
            "Old men played cards inside.",
        ),
        "short_line_ratio=1.0 >= 0.67",
        {},
    ),
    (
        "fineweb_char_dup_ratio",
        ENGLISH
        + "\n\nSubscribe to our newsletter for weekly updates.\n\nSubscribe to our newsletter for weekly updates.",
        "char_dup_ratio=0.051 >= 0.01",
        {},
    ),
    (
        "fineweb_list_ratio",
        lines(
            "Grandparents and grandchildren.",
            "Magnificent mountains dominated.",
            "Experienced climbers hesitated.",
            "Beautiful meadows flourished.",
            "Enormous glaciers retreated.",
            "Courageous rescuers volunteered.",
            "Colourful butterflies appeared.",
            "Thunderstorms approached quickly.",
            "Shepherds gathered livestock.",
            "Villagers celebrated together.",
            "Musicians performed traditionally.",
            "Photographers captured sunsets.",
            "Wanderers discovered waterfalls.",
            "Researchers measured temperatures.",
            "Celebrations with neighbours.",
            "Historians documented traditions.",
            "Engineers reinforced bridges.",
            "Carpenters restored farmhouses.",
        ),
        "newline_word_ratio=0.315 > 0.3",
        {},
    ),
]


@pytest.mark.parametrize(
    ("reason", "text", "detail", "overrides"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_each_rule_names_exactly_its_reason(reason, text, detail, overrides):
    assert verdict(text, **overrides) == (reason, detail)


@pytest.mark.parametrize(("kind", "n"), [("top", 3), ("top", 4), *(("dup", n) for n in range(6, 11))])
def test_every_configured_n_gram_size_has_its_own_reason(kind, n):
    """The top-2 and dup-5 texts above, with only one n-gram size configured."""
    text = next(c[1] for c in CASES if c[0] == f"gopher_{kind}_{2 if kind == 'top' else 5}_gram")
    default = dict(GopherConfig().top_n_grams if kind == "top" else GopherConfig().dup_n_grams)
    only = {"top_n_grams": (), "dup_n_grams": (), f"{kind}_n_grams": ((n, default[n]),)}
    reason, detail = verdict(text, gopher=GopherConfig(**only))
    assert reason == f"gopher_{kind}_{n}_gram"
    assert re.fullmatch(rf"{kind}_{n}_gram_char_frac=0\.\d+ > {default[n]}", detail)


@pytest.mark.parametrize(("text", "language"), [(ENGLISH, "en"), (GERMAN, "de"), (FRENCH, "fr")])
def test_clean_pages_are_kept(text, language):
    out = run(text, language)
    assert out["_reason"].to_list() == [None]
    paragraphs = [p.replace("\n", " ").strip() for p in text.split("\n\n")]
    assert out["text"][0] == "\n".join(paragraphs)  # C4 drops the blank lines between paragraphs
    assert out["word_count"].dtype == pl.Int32
    assert out["word_count"][0] == len(out["text"][0].split())  # these texts have no free-standing punctuation


def test_stop_words_only_apply_to_configured_languages():
    assert verdict(NO_STOP_WORDS, "en")[0] == "gopher_few_stop_words"
    assert verdict(NO_STOP_WORDS, "de") == (None, None)
    assert verdict(NO_STOP_WORDS, None) == (None, None)
    assert verdict(NO_STOP_WORDS, "de", gopher=GopherConfig(stop_words_languages=("en", "de")))[0] == (
        "gopher_few_stop_words"
    )


def test_none_disables_a_rule():
    short = PARAGRAPHS[0] + "\nIt is open all year. Boats leave at noon. Tickets are cheap."
    assert verdict(short, gopher=GopherConfig(min_words=80))[0] == "gopher_short_doc"
    assert verdict(short, gopher=GopherConfig(min_words=None)) == (None, None)
    repeated = BASE + "\n" + lines(*["Please remember to close the gate behind you when you leave the field."] * 4)
    assert verdict(repeated, gopher=GopherConfig(dup_line_frac=None))[0] == "gopher_dup_line_char_frac"
    assert verdict(ENGLISH, c4=C4Config(min_sentences=None)) == (None, None)
    assert verdict(NO_STOP_WORDS, gopher=GopherConfig(min_stop_words=None)) == (None, None)


@pytest.mark.parametrize(
    ("text", "reason", "family"),
    [
        (NO_STOP_WORDS, "gopher_few_stop_words", "gopher"),
        (BASE + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", "c4_lorem_ipsum", "c4"),
        (CASES[-1][1], "fineweb_list_ratio", "fineweb"),
    ],
)
def test_disabling_a_family_keeps_what_it_would_drop(text, reason, family):
    assert verdict(text)[0] == reason
    off = {
        "gopher": GopherConfig(enabled=False),
        "c4": C4Config(enabled=False),
        "fineweb": FineWebConfig(enabled=False),
    }
    assert verdict(text, **{family: off[family]}) == (None, None)


def test_c4_removes_policy_javascript_and_short_lines_but_keeps_the_page():
    text = (
        "Menu\n"
        + PARAGRAPHS[0]
        + "\nPlease read our Privacy Policy before you subscribe to the newsletter.\n"
        + "You need JavaScript enabled to view the map.\n"
        + PARAGRAPHS[1]
        + "\nThe museum is described on Wikipedia.[3][citation needed]"
    )
    out = run(text)
    assert out["_reason"][0] is None
    kept = out["text"][0]
    assert kept.split("\n") == [
        PARAGRAPHS[0],
        PARAGRAPHS[1],
        "The museum is described on Wikipedia.",
    ]
    assert out["word_count"][0] == len(kept.split())
    untouched = run(text, c4=C4Config(enabled=False))
    assert untouched["text"][0] == text
    assert untouched["word_count"][0] == len(py_words(text))  # counted on the original text


def test_c4_page_rules_report_the_first_offending_line():
    curly_first = BASE + "\nSee the template {name} in the appendix.\nLorem ipsum dolor sit amet, consectetur elit."
    assert verdict(curly_first) == ("c4_curly_bracket", "line 3")
    assert verdict(curly_first, c4=C4Config(filter_curly_bracket=False)) == ("c4_lorem_ipsum", "line 4")
    # a page rule only looks at lines that survive the word-count filter, and a javascript line is removed first
    harmless = BASE + "\n{ }\nThe javascript widget uses {braces} here.\n" + PARAGRAPHS[2]
    assert verdict(harmless) == (None, None)


def test_rows_dropped_before_fineweb_keep_their_original_text_and_columns_pass_through():
    texts = [ENGLISH, "Too short.\n\nReally.", CASES[-1][1]]
    batch = pl.DataFrame({"id": [1, 2, 3], "text": texts, "language": ["en", "en", "en"], "url": ["a", "b", "c"]})
    result = QualityStep(RunConfig()).apply(batch)
    assert result.kept["id"].to_list() == [1]
    assert result.kept.columns == ["id", "text", "language", "url", "word_count"]
    removed = result.removed.sort("id")
    assert removed["reason"].to_list() == ["gopher_short_doc", "fineweb_list_ratio"]
    assert removed["text"][0] == texts[1]  # Gopher dropped it: the ledger gets the page as it came
    assert removed["text"][1] == texts[2].strip()  # FineWeb judged C4's output, so that is what it dropped
    assert set(removed["stage"]) == {"quality"}


def test_missing_language_column_fails_loudly():
    with pytest.raises(ValueError, match="language"):
        QualityStep(RunConfig()).annotate(pl.DataFrame({"text": [ENGLISH]}))
    no_stop_rule = RunConfig(quality=QualityConfig(gopher=GopherConfig(min_stop_words=None)))
    assert QualityStep(no_stop_rule).annotate(pl.DataFrame({"text": [ENGLISH]}))["_reason"][0] is None


def test_empty_batch_and_empty_text():
    empty = pl.DataFrame({"text": [], "language": []}, schema={"text": pl.String, "language": pl.String})
    assert QualityStep(RunConfig()).annotate(empty).columns == ["text", "language", "word_count", "_reason", "_detail"]
    assert verdict("") == ("gopher_short_doc", "words=0 < 50")
    assert verdict("", gopher=GopherConfig(enabled=False))[0] == "c4_empty_after_line_filter"


# ---- ground truth by construction: the statistics recomputed in plain Python ----------------------------

JOINERS = "'’.-"


def py_words(text: str) -> list[str]:
    """Words as the module defines them: runs of characters that are not whitespace, punctuation or
    symbols, joined across a single ' ’ . - between two such characters."""

    def is_word_char(c: str) -> bool:
        return not c.isspace() and unicodedata.category(c)[0] not in "PS"

    words, current = [], ""
    for i, c in enumerate(text):
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if is_word_char(c) or (c in JOINERS and current and nxt and is_word_char(nxt)):
            current += c
        elif current:
            words.append(current)
            current = ""
    if current:
        words.append(current)
    return words


def py_gopher_quality(text: str) -> dict:
    words = py_words(text)
    n = len(words)
    text_lines = text.splitlines()
    return {
        "words": n,
        "mean_word_length": sum(len(w) for w in words) / n,
        "hash_word_ratio": text.count("#") / n,
        "ellipsis_word_ratio": (text.count("...") + text.count("…")) / n,
        "bullet_line_frac": sum(s.lstrip().startswith(("•", "-")) for s in text_lines) / len(text_lines),
        "ellipsis_line_frac": sum(s.rstrip().endswith(("...", "…")) for s in text_lines) / len(text_lines),
        "alpha_word_frac": sum(any(c.isalpha() for c in w) for w in words) / n,
        "stop_words": sum(w.lower() in {"the", "be", "to", "of", "and", "that", "have", "with"} for w in words),
    }


def py_find_duplicates(items: list[str]) -> tuple[int, int]:
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        seen.add(item)
    return count, chars


def py_ngram_chars(words: list[str], top_ns, dup_ns) -> list[int]:
    """The n-gram statistics from their definitions, with no shortcut (Counter of tuples, a set of seen grams)."""
    out = []
    for n in top_ns:
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        counts = Counter(grams)
        top = max(counts.values(), default=0)
        first_top = next((g for g in grams if counts[g] == top), ())  # ties: the first one seen
        out.append(top * len(" ".join(first_top)))
    for n in dup_ns:
        seen, chars, i = set(), 0, 0
        while i <= len(words) - n:
            gram = tuple(words[i : i + n])
            if gram in seen:
                chars += sum(len(w) for w in gram)
                i += n
            else:
                seen.add(gram)
                i += 1
        out.append(chars)
    return out


def py_gopher_repetition(text: str) -> dict:
    paragraphs = re.split(r"\n{2,}", text.strip())
    text_lines = [line for line in text.split("\n") if line]
    para_dups, para_chars = py_find_duplicates(paragraphs)
    line_dups, line_chars = py_find_duplicates(text_lines)
    words = py_words(text)
    out = {
        "dup_line_frac": line_dups / len(text_lines),
        "dup_para_frac": para_dups / len(paragraphs),
        "dup_line_char_frac": line_chars / len(text),
        "dup_para_char_frac": para_chars / len(text),
    }
    top_ns, dup_ns = (2, 3, 4), (5, 6, 7, 8, 9, 10)
    names = [f"top_{n}_gram_char_frac" for n in top_ns] + [f"dup_{n}_gram_char_frac" for n in dup_ns]
    chars = py_ngram_chars(words, top_ns, dup_ns)
    return out | {name: count / len(text) for name, count in zip(names, chars, strict=True)}


def py_fineweb(text: str, short: int = 30) -> dict:
    text_lines = text.split("\n")
    non_empty = [line for line in text_lines if line.strip()]
    return {
        "line_punct_ratio": sum(line.endswith((".", "!", "?", '"', "'")) for line in text_lines) / len(text_lines),
        "short_line_ratio": sum(len(line) <= short for line in text_lines) / len(text_lines),
        "char_dup_ratio": py_find_duplicates(non_empty)[1] / len(text.replace("\n", "")),
        "newline_word_ratio": text.count("\n") / len(py_words(text)),
    }


STAT_TEXTS = [
    ENGLISH,
    GERMAN,
    FRENCH,
    NO_STOP_WORDS,
    "• First point, with #tags and #more…\n  - second point...\nA line that ends … \n\n#### Header ####\n"
    "Numbers 3.14, 1,000 and 2024-05-01; e.g. well-known don't aujourd’hui l’été -- fin. 😀 ☃ © 42%\n",
    "x\r\ny ... z\n\n\n\nx\r\ny ... z\n- a - b -\n\n  indented\n",
    *(case[1] for case in CASES[2:]),
]


@pytest.mark.parametrize("text", STAT_TEXTS, ids=[f"text{i}" for i in range(len(STAT_TEXTS))])
def test_statistics_match_a_plain_python_computation(text):
    series = pl.Series([text])
    quality = gopher_quality_stats(series)
    assert quality["word_list"][0].to_list() == py_words(text)
    got = quality.drop("word_list").row(0, named=True)
    got |= gopher_repetition_stats(series, quality["word_list"], GopherConfig()).row(0, named=True)
    got |= fineweb_stats(series, 30).row(0, named=True)
    want = py_gopher_quality(text) | py_gopher_repetition(text) | py_fineweb(text)
    assert got.keys() == want.keys()
    for name, value in want.items():
        assert got[name] == pytest.approx(value), name


def test_ngram_chars_counts_repeats_once_and_skips_them():
    batch = pl.Series([list("abcde" * 3), ["w"] * 3, [], None])
    # top 2-gram 'a b' x3 = 9 chars; repeated 5-grams: two repeats of 5 one-letter words = 10 chars
    assert ngram_chars(batch, [2], [5, 6]).tolist() == [[9, 10, 6], [6, 0, 0], [0, 0, 0], [0, 0, 0]]
    assert ngram_chars(batch[1:2], [4], [5]).tolist() == [[0, 0]]
    assert ngram_chars(batch[:0], [2], [5]).shape == (0, 2)


@pytest.mark.parametrize("seed", range(4))
def test_ngram_chars_match_their_definition_on_random_batches(seed):
    """Small vocabularies (many repeats and ties), words sharing prefixes, non-ASCII words, documents
    shorter than n, and n in any order: the compiled counts equal the definition's, document by document."""
    rng = random.Random(seed)
    vocab = ["a", "ab", "abc", "b", "ba", "été", "été-là", "日本", "x" * 40, "ß", "ss", "Ab"]
    docs = [
        [rng.choice(vocab[: rng.randint(1, len(vocab))]) for _ in range(rng.choice([0, 1, 3, 9, 40, 300]))]
        for _ in range(300)
    ]
    for top_ns, dup_ns in (((2, 3, 4), (5, 6, 7, 8, 9, 10)), ((3, 1), (7, 5, 10, 6))):
        got = ngram_chars(pl.Series(docs, dtype=pl.List(pl.String)), top_ns, dup_ns).tolist()
        assert got == [py_ngram_chars(words, top_ns, dup_ns) for words in docs]
