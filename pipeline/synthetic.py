"""Deterministic synthetic web pages in several languages, for the sample data, tests and benchmarks.

Sentences are drawn from small per-language grammars (subject, verb, object, adverbial), so text
is varied enough to pass the quality rules and clear enough for language identification, yet
entirely reproducible from a seed. Ground truth (language, planted duplicates) is known by
construction.
"""

from __future__ import annotations

import html
import random
from dataclasses import dataclass

# Word lists per slot (space-separated; '_' joins multi-word items). A sentence fills
# det adj noun verb det adj noun prep det noun, so any 5-gram rarely repeats by chance.
_LEXICON: dict[str, dict[str, str]] = {
    "en": {
        "det": "the a this every our their one that",
        "adj": "old new quiet green small large local famous careful young early modern rural narrow bright "
        "northern historic gentle busy open",
        "noun": "council engineer library bridge farmer museum teacher river village market station garden "
        "school baker journalist orchestra valley harbour clinic festival mill forest archive tower bakery",
        "verb": "describes discussed examines published prepared improves documented recommends visited "
        "restored planned studies explains supported reviewed welcomed measured organised painted built",
        "prep": "near beside behind above below around after before during without",
    },
    "de": {
        "det": "der die das ein eine unser jeder dieser",
        "adj": "alte neue ruhige grüne kleine grosse lokale berühmte sorgfältige junge frühe moderne ländliche "
        "schmale helle nördliche historische sanfte belebte offene",
        "noun": "Gemeinderat Ingenieurin Bibliothek Brücke Bäuerin Museum Lehrer Fluss Dorf Markt Bahnhof Garten "
        "Schule Bäcker Journalistin Orchester Tal Hafen Klinik Fest Mühle Wald Archiv Turm Bäckerei",
        "verb": "beschreibt diskutierte untersucht veröffentlichte bereitete verbessert dokumentierte empfiehlt "
        "besuchte restaurierte plante studiert erklärt unterstützte prüfte begrüsste mass organisierte "
        "malte baute",
        "prep": "neben hinter über unter nach vor während ohne zwischen gegenüber",
    },
    "fr": {
        "det": "le la un une notre chaque ce cette",
        "adj": "ancien nouvelle calme verte petit grande locale célèbre attentif jeune moderne rurale étroite "
        "lumineuse historique douce animée ouverte paisible fameuse",
        "noun": "conseil ingénieure bibliothèque pont agricultrice musée enseignant rivière village marché gare "
        "jardin école boulanger journaliste orchestre vallée port clinique fête moulin forêt archive "
        "tour boulangerie",
        "verb": "décrit discutait examine publiait préparait améliore documentait recommande visitait restaurait "
        "planifiait étudie explique soutenait révisait accueillait mesurait organisait peignait construisait",
        "prep": "près_de à_côté_de derrière au-dessus_de sous après avant pendant sans devant",
    },
    "it": {
        "det": "il la un una il_nostro ogni questo questa",
        "adj": "vecchio nuova tranquilla verde piccolo grande locale famosa attento giovane moderna rurale stretta "
        "luminosa storica dolce animata aperta antica serena",
        "noun": "consiglio ingegnera biblioteca ponte contadina museo insegnante fiume villaggio mercato stazione "
        "giardino scuola fornaio giornalista orchestra valle porto clinica festa mulino foresta archivio "
        "torre panetteria",
        "verb": "descrive discuteva esamina pubblicava preparava migliora documentava raccomanda visitava "
        "restaurava progettava studia spiega sosteneva rivedeva accoglieva misurava organizzava dipingeva "
        "costruiva",
        "prep": "vicino_a accanto_a dietro sopra sotto dopo prima_di durante senza davanti_a",
    },
}
GRAMMARS: dict[str, dict[str, list[str]]] = {
    lang: {slot: [w.replace("_", " ") for w in words.split()] for slot, words in slots.items()}
    for lang, slots in _LEXICON.items()
}
LANGUAGES = tuple(GRAMMARS)


def sentence(rng: random.Random, language: str) -> str:
    g = GRAMMARS[language]
    words = [
        rng.choice(g["det"]).capitalize(),
        rng.choice(g["adj"]),
        rng.choice(g["noun"]),
        rng.choice(g["verb"]),
        rng.choice(g["det"]),
        rng.choice(g["adj"]),
        rng.choice(g["noun"]),
        rng.choice(g["prep"]),
        rng.choice(g["det"]),
        rng.choice(g["noun"]),
    ]
    return " ".join(words) + "."


def article(rng: random.Random, language: str, paragraphs: int = 5) -> list[str]:
    """Paragraphs of 4-7 sentences; a paragraph never repeats a sentence."""
    out = []
    for _ in range(paragraphs):
        chosen: list[str] = []
        while len(chosen) < rng.randint(4, 7):
            s = sentence(rng, language)
            if s not in chosen:
                chosen.append(s)
        out.append(" ".join(chosen))
    return out


@dataclass(frozen=True)
class SyntheticPage:
    url: str
    language: str
    title: str
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    def html(self, *, charset: str = "utf-8") -> str:
        """A realistic page: navigation and footer boilerplate around one article."""
        body = "\n".join(f"<p>{html.escape(p)}</p>" for p in self.paragraphs)
        return (
            f'<!DOCTYPE html>\n<html lang="{self.language}"><head><meta charset="{charset}">'
            f"<title>{html.escape(self.title)}</title></head><body>\n"
            '<nav><a href="/">Home</a> | <a href="/news">News</a> | <a href="/contact">Contact</a></nav>\n'
            f"<article><h1>{html.escape(self.title)}</h1>\n{body}\n</article>\n"
            "<footer>© Example Media · <a href='/imprint'>Imprint</a></footer>\n</body></html>\n"
        )


def make_page(seed: int, url: str, language: str, paragraphs: int = 5) -> SyntheticPage:
    rng = random.Random(f"{seed}-{url}-{language}")
    title = sentence(rng, language).rstrip(".")
    return SyntheticPage(url, language, title, tuple(article(rng, language, paragraphs)))
