"""The compiled dedup-key kernels against independent references: the `xxhash` library for XXH3, and
the normalisation as defined (format characters removed by their Unicode category, Python NFKC, then Polars'
lower case, character classes and whitespace: tests/helpers/text_identity.py)."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
import xxhash

from pipeline.fingerprints import kernels as kernel
from pipeline.fingerprints.minhash import _word_hashes
from pipeline.fingerprints.normalisation import _codepoint_table, _normalised, normalise
from pipeline.text_identity import normalise_defined
from tests.helpers.text_identity import reference_normalise


def test_xxh3_64_equals_xxhash_for_every_length_it_handles() -> None:
    rng = np.random.default_rng(3)
    for n in range(kernel.MAX_WORD + 1):
        for _ in range(8):
            buf = rng.integers(0, 256, n + 7, dtype=np.uint8)
            assert int(kernel.xxh3_64(buf, 5, n)) == xxhash.xxh3_64_intdigest(buf[5 : 5 + n].tobytes()), n


def test_word_hashes_are_xxh3_of_each_space_separated_word() -> None:
    rng = random.Random(1)
    long_word = "x" * 241 + "é" * 150  # past XXH3's mid-size path: hashed by the xxhash library
    texts = ["", "a", "two words", "é ünïcode wörds", long_word, f"a {long_word} b", "a  b", " lead", "trail "]
    texts += [" ".join("".join(rng.choices("abcdé ", k=rng.randint(0, 30))) for _ in range(20)) for _ in range(50)]
    hashes, n_words = _word_hashes(*_utf8_of(texts))
    expected = [[xxhash.xxh3_64_intdigest(w) for w in t.encode().split(b" ")] if t else [] for t in texts]
    assert n_words.tolist() == [len(e) for e in expected]
    assert hashes.tolist() == [h for e in expected for h in e]


def _utf8_of(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    encoded = [t.encode() for t in texts]
    offsets = np.concatenate([[0], np.cumsum([len(e) for e in encoded])]).astype(np.int64)
    return np.frombuffer(b"".join(encoded) or b"", dtype=np.uint8), offsets


ASCII = [chr(c) for c in range(128)]
# web text's usual non-ASCII, plus what is hard: final sigma, multi-character lower case, combining
# marks, compatibility forms NFKC rewrites, Unicode whitespace, symbols outside the BMP, unassigned points,
# format characters (zero-width space/joiners, soft hyphen, word joiner, BOM, bidi marks, a tag)
SPECIAL = list(
    "éÉüßẞ“”’—…½ﬁＡａ\u00a0\u2003\u3000İΣσςΟΔΟΣǅ\u0301\u0308한글漢字😀🂡\U0001d400\U0002a6d6\u0378"
    "\u200b\u200c\u200d\u00ad\u2060\ufeff\u200e\u202e\U000e0041"
)


@pytest.mark.parametrize("seed", range(4))
def test_normalise_equals_the_definition_on_random_unicode(seed: int) -> None:
    rng = random.Random(seed)

    def char() -> str:
        roll = rng.random()
        if roll < 0.55:
            return rng.choice(ASCII)
        if roll < 0.8:
            return rng.choice(SPECIAL)
        c = rng.randrange(0x80, 0x30000 if roll < 0.98 else 0x110000)
        return chr(c) if not 0xD800 <= c < 0xE000 else "x"

    texts: list[str | None] = ["".join(char() for _ in range(rng.randint(0, 60))) for _ in range(3000)]
    texts += [None, "", " \t\n ", "ΟΔΟΣ ΟΔΟΣ.", "İstanbul", "ǅemal", "A\u0301", "  — ½ ", "plain ascii, DONE."]
    rng.shuffle(texts)
    assert normalise(pl.Series(texts, dtype=pl.String)).to_list() == reference_normalise(texts)


def test_normalise_takes_each_path_for_what_it_can_do() -> None:
    """Plain ASCII, Unicode the table covers, and a text needing Polars (final sigma) in one batch."""
    texts = ["Hello, World!", "Ça «va» ½", "ΟΔΟΣ"]
    _, _, non_ascii = kernel.normalise_ascii(*_utf8_of(texts))
    assert non_ascii.tolist() == [False, True, True]
    _, _, contextual = kernel.normalise_utf8(*_utf8_of(texts[1:]), _codepoint_table())
    assert contextual.tolist() == [False, True]
    data, offsets = _normalised(pl.Series(texts))
    got = [data[a:b].tobytes().decode() for a, b in itertools.pairwise(offsets)]
    assert got == ["hello world", "ça va 12", "οδος"] == reference_normalise(texts)


def test_codepoint_table_agrees_with_the_ascii_map() -> None:
    table = _codepoint_table()
    for c in range(128):
        mapped = int(kernel._ASCII_MAP[c])
        expected = {kernel._DROP: kernel.DROPPED, 32: kernel.WHITESPACE}.get(mapped, mapped)
        assert table[c] == expected, c


def test_format_characters_are_removed_on_every_path() -> None:
    """Zero-width spaces and joiners, soft hyphens, word joiners, BOMs and bidi marks are no part of the text:
    in ASCII text (the ASCII pass hands it on), in other Unicode (compiled path, redone without them), with a
    final sigma (Polars' path), and where one would block NFKC's composition (e + ZWJ + combining acute)."""
    cases = {
        "Hel\u200blo, Wor\u00adld!": "hello world",  # ASCII letters around format characters
        "\ufeffplain text\u2060": "plain text",
        "a \u200b b": "a b",  # between spaces: one space stays
        "Zü\u200drich caf\u200cé": "zürich café",  # non-ASCII, compiled path
        "Bundes\u00adregierung \u200ebeschließt\u202c": "bundesregierung beschließt",
        "ΟΔΟ\u200bΣ ΟΔΟΣ.": "οδος οδος",  # final sigma after a removed ZWSP: Polars' path, the end of the word
        "e\u200d\u0301t\u00e9": "été",  # removed before NFKC: e + U+0301 composes to é
        "\U000e0041tagged\U000e007f": "tagged",  # tag characters, past the compiled table
    }
    texts = list(cases)
    expected = list(cases.values())
    assert reference_normalise(texts) == expected  # the definition itself, written independently
    assert normalise_defined(pl.Series(texts)).to_list() == expected  # the plain path
    assert normalise(pl.Series(texts)).to_list() == expected  # the compiled path (and its hand-offs)
    assert normalise(pl.Series([*texts, "ΟΔΟΣ", "caf\u00e9"])).to_list() == [*expected, "οδος", "café"]


def test_format_characters_send_their_texts_back_for_removal_before_nfkc() -> None:
    table = _codepoint_table()
    for c in "\u200b\u200c\u200d\u00ad\u2060\u2064\ufeff\u200e\u0600\U000110bd\U0001d173":
        assert table[ord(c)] == kernel.CONTEXTUAL, hex(ord(c))
    assert table[ord("a")] == ord("a") and table[ord("\u00a0")] == kernel.WHITESPACE


ENTRY_POINTS = ("normalise_ascii", "normalise_utf8", "splice", "word_hashes", "shingle_hashes", "signatures")
_WARM_UP = """
import json
from pipeline.config import RunConfig
from pipeline.executors.local import warm_up
from pipeline.fingerprints import kernels
warm_up(RunConfig())
print(json.dumps({name: {"compiled": len(getattr(kernels, name).signatures),
                         "from_cache": sum(getattr(kernels, name).stats.cache_hits.values()),
                         "compiled_here": sum(getattr(kernels, name).stats.cache_misses.values())}
                  for name in %r}))
"""


def test_worker_warm_up_readies_every_kernel_from_the_on_disk_cache() -> None:
    """A worker process (the pool's initializer, `warm_up`) has every fingerprint kernel ready before its first
    batch, and a second process loads them from numba's cache instead of compiling again (the cache is keyed by
    the module's path: a moved kernel module must be compiled once, then found)."""

    def run(code: str) -> str:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    # the first process after a move or an edit compiles and writes the cache
    run("import polars as pl; from pipeline.config import DedupConfig; from pipeline.fingerprints import *;"
        "add_dedup_keys(pl.DataFrame({'text': ['é and ascii']}), DedupConfig())")  # fmt: skip
    found = json.loads(run(_WARM_UP % (ENTRY_POINTS,)).splitlines()[-1])
    assert sorted(found) == sorted(ENTRY_POINTS)
    for name, stats in found.items():
        assert stats["compiled"] >= 1 and stats["from_cache"] >= 1 and stats["compiled_here"] == 0, (name, stats)
