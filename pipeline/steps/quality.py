"""Stage `quality`: the heuristic filters FineWeb runs, on whole batches.

Four rule families, applied in this order (the first rule that fires names the reason):

* Gopher quality (Rae et al. 2021, "Scaling Language Models", appendix A.1.1): document length,
  mean word length, '#' and ellipsis per word, bullet and ellipsis lines, share of words with a
  letter, and at least two English stop words. The stop-word rule applies only to rows whose
  `language` is in `gopher.stop_words_languages` (default English): English stop words would remove
  every German or French page of a multilingual corpus.
* Gopher repetition (Rae et al. 2021, table A1): duplicate lines and paragraphs (share and
  characters), the most frequent 2-4-gram, and characters inside repeated 5-10-grams.
* C4 (Raffel et al. 2020, section 2.2, with the extra line rules of the reference implementation):
  lines mentioning javascript or a cookie/terms policy, lines with too few words or a word over
  1000 characters are removed from the text; pages with "lorem ipsum" or "{", pages left with
  fewer than 5 sentences and pages left empty are dropped. FineWeb's setting keeps lines without
  terminal punctuation (`c4.filter_no_terminal_punct`).
* FineWeb (Penedo et al. 2024, section 3.3): share of lines ending in punctuation, share of short
  lines, characters in duplicate lines, and newlines per word.

Semantics follow datatrove's filters (`gopher_quality_filter.py`, `gopher_repetition_filter.py`,
`c4_filters.py`, `fineweb_quality_filter.py`) with these differences: words are a regex
(`WORD`: runs of letters/digits/marks, with inner ' ’ . - joints; punctuation and symbols are not
words) instead of NLTK/spaCy tokens, so every "per word" ratio has words, not punctuation tokens,
in its denominator; stop words match case-insensitively; C4 counts sentences with a punctuation
regex instead of punkt; the sentence ends 。！？ and । count as terminal punctuation; a page that C4
leaves empty is dropped (`c4_empty_after_line_filter`) even when `min_sentences` is None.

The Gopher rules and C4 see the input text; FineWeb sees C4's rewritten text (as in datatrove's
FineWeb pipeline). Kept rows, and rows only FineWeb drops, carry the rewritten text; rows the
Gopher or C4 rules drop keep the original text for the ledger. `word_count` counts `WORD`s of the
row's final text. Statistics are computed first, vectorised (score once), then every threshold is a
cheap expression; the n-gram statistics are a compiled loop per row (`repetition_kernel`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from pipeline.config import C4Config, GopherConfig, QualityConfig
from pipeline.fingerprints import utf8_buffers
from pipeline.steps.base import DETAIL, REASON, Step, first_reason

_NOT_WORD = r"\s\p{P}\p{S}"
WORD = rf"[^{_NOT_WORD}]+(?:['’.\-][^{_NOT_WORD}]+)*"  # a word: not whitespace, punctuation or symbols
STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")  # Gopher's English stop words
BULLET_LINE = r"(?m)^[^\S\n]*[•\-]"  # datatrove counts '•' and '-' as bullets
ELLIPSIS = r"\.\.\.|…"
ELLIPSIS_LINE = rf"(?m)(?:{ELLIPSIS})[^\S\n]*$"
TERMINAL = ".!?\"'。！？।"  # C4's/FineWeb's line ends ." ? ! ' plus CJK and Devanagari full stops
_CLOSERS = "\"'”’»)\\]」』"
SENTENCE_END = rf"[.!?।]+[{_CLOSERS}]*(?:\s+|$)|[。！？]+[{_CLOSERS}]*"  # a cheap stand-in for punkt
_ENDS_SENTENCE = rf"(?:[.!?।。！？][{_CLOSERS}]*)\s*$"
CITATION = r"\[\d*\]|\[edit\]|\[citation needed\]"  # Wikipedia marks, removed from C4 lines
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
_LINE_BREAKS = "\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]"  # what str.splitlines also splits on
_MAX_REGEX_REPEAT = 4096  # \S{n} beyond this exceeds the regex size limit; count words instead


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """num / den as Float64, null when den is 0 (so no rule fires on an undefined ratio)."""
    return pl.when(den > 0).then(num.cast(pl.Float64) / den)


def _element_sum(lst: pl.Expr, expr: pl.Expr) -> pl.Expr:
    return lst.list.eval(expr).list.sum()


def _duplicates(lst: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Elements that repeat an earlier one, and their characters (datatrove's find_duplicates)."""
    chars = pl.element().str.len_chars()
    count = lst.list.len() - lst.list.n_unique()
    return count, _element_sum(lst, chars) - _element_sum(lst.list.unique(), chars)


def gopher_quality_stats(text: pl.Series) -> pl.DataFrame:
    """Per document: `word_list`, `words` (their number) and the other Gopher quality statistics."""
    t = pl.col("text")
    w = pl.col("word_list")
    n = w.list.len()
    n_lines = (
        pl.when(t.str.len_bytes() == 0)
        .then(0)
        .otherwise(  # str.splitlines: no line after a final \n
            t.str.count_matches("\n", literal=True) + (~t.str.ends_with("\n")).cast(pl.UInt32)
        )
    )
    return (
        text.rename("text")
        .to_frame()
        .with_columns(word_list=t.str.extract_all(WORD))
        .select(
            "word_list",
            words=n.cast(pl.Int32),
            mean_word_length=_ratio(_element_sum(w, pl.element().str.len_chars()), n),
            hash_word_ratio=_ratio(t.str.count_matches("#", literal=True), n),
            ellipsis_word_ratio=_ratio(t.str.count_matches(ELLIPSIS), n),
            bullet_line_frac=_ratio(t.str.count_matches(BULLET_LINE), n_lines),
            ellipsis_line_frac=_ratio(t.str.count_matches(ELLIPSIS_LINE), n_lines),
            alpha_word_frac=_ratio(_element_sum(w, pl.element().str.contains(r"\p{L}")), n),
            stop_words=_element_sum(w, pl.element().str.to_lowercase().is_in(list(STOP_WORDS))).cast(pl.Int32),
        )
    )


def ngram_chars(words: pl.Series, top_ns: Sequence[int], dup_ns: Sequence[int]) -> np.ndarray:
    """Per document (a list of words each): characters in the most frequent n-gram (per n in top_ns, words
    joined by spaces, times its count), then characters in repeated n-grams (per n in dup_ns; a repeat
    skips its n words, as in datatrove). Compiled (`repetition_kernel`), imported on first use."""
    from pipeline.steps import repetition_kernel as kernel

    per_doc = words.list.len().fill_null(0).to_numpy().astype(np.int64)
    doc_offsets = np.concatenate([[0], np.cumsum(per_doc)]).astype(np.int64)
    flat = words.explode(empty_as_null=False, keep_nulls=False)
    if len(flat) != doc_offsets[-1]:
        raise ValueError("ngram_chars: a word list holds a null")
    ids = kernel.word_ids(*utf8_buffers(flat), kernel.table_size(len(flat)))
    chars = flat.str.len_chars().to_numpy().astype(np.int64)
    ns = [np.array(list(n), dtype=np.int64) for n in (top_ns, dup_ns)]
    return kernel.ngram_chars(ids, chars, doc_offsets, *ns, kernel.table_size(int(per_doc.max(initial=0))))


def gopher_repetition_stats(text: pl.Series, words: pl.Series, cfg: GopherConfig) -> pl.DataFrame:
    """Per document: duplicate line/paragraph fractions and n-gram character fractions."""
    t = pl.col("text")
    piece = pl.element().str.strip_chars_start("\n")  # split on \n{2,}, done as split('\n\n') (faster than regex)
    paragraphs = t.str.strip_chars().str.split("\n\n").list.eval(piece.filter(piece != ""))
    lines = t.str.split("\n").list.eval(pl.element().filter(pl.element() != ""))  # split on \n+
    para_dups, para_chars = _duplicates(paragraphs)
    line_dups, line_chars = _duplicates(lines)
    n_chars = t.str.len_chars()
    stats = (
        text.rename("text")
        .to_frame()
        .select(
            dup_line_frac=_ratio(line_dups, lines.list.len()),
            dup_para_frac=_ratio(para_dups, paragraphs.list.len()),
            dup_line_char_frac=_ratio(line_chars, n_chars),
            dup_para_char_frac=_ratio(para_chars, n_chars),
            n_chars=n_chars,
        )
    )
    top_ns = [n for n, _ in cfg.top_n_grams]
    dup_ns = [n for n, _ in cfg.dup_n_grams]
    names = [f"top_{n}_gram_char_frac" for n in top_ns] + [f"dup_{n}_gram_char_frac" for n in dup_ns]
    if not names:
        return stats.drop("n_chars")
    counts = pl.DataFrame(ngram_chars(words, top_ns, dup_ns), schema=dict.fromkeys(names, pl.Int64), orient="row")
    return pl.concat([stats, counts], how="horizontal").select(
        pl.exclude("n_chars", *names), *(_ratio(pl.col(c), pl.col("n_chars")).alias(c) for c in names)
    )


def _has_long_word(line: pl.Expr, max_len: int) -> pl.Expr:
    if max_len < _MAX_REGEX_REPEAT:
        return line.str.contains(rf"\S{{{max_len + 1}}}")
    longest = line.str.extract_all(r"\S+").list.eval(pl.element().str.len_chars()).list.max()
    return (longest > max_len).fill_null(False)


def c4_filter_lines(text: pl.Series, cfg: C4Config) -> pl.DataFrame:
    """C4's line filter per document: the rewritten text and what decides the page.

    Columns: `c4_text`, `c4_lines` (lines in), `c4_lines_kept`, `c4_sentences` (in kept lines),
    `c4_lorem_at` / `c4_curly_at` (0-based index of the first line that drops the page, or null).
    """
    false = pl.lit(False)
    line = pl.col("line")
    cited = line.str.replace_all(CITATION, "") if cfg.remove_citations else line
    lower = cited.str.to_lowercase()
    too_long = _has_long_word(line, cfg.max_word_length) if cfg.max_word_length is not None else false
    no_punct = (
        ~cited.str.contains(rf"[{TERMINAL}]$") | cited.str.ends_with("...") if cfg.filter_no_terminal_punct else false
    )
    few_words = line.str.count_matches(r"\S+") < cfg.min_words_per_line if cfg.min_words_per_line is not None else false
    reached = ~(too_long | no_punct | few_words)  # datatrove checks the page rules only on these lines
    javascript = lower.str.contains("javascript", literal=True) if cfg.remove_javascript_lines else false
    policy = lower.str.contains("|".join(POLICY_PHRASES)) if cfg.remove_policy_lines else false
    lorem = reached & lower.str.contains("lorem ipsum", literal=True) if cfg.filter_lorem_ipsum else false
    curly = reached & ~javascript & cited.str.contains("{", literal=True) if cfg.filter_curly_bracket else false
    keep = reached & ~javascript & ~policy
    sentences = cited.str.count_matches(SENTENCE_END) + (
        (cited.str.strip_chars() != "") & ~cited.str.contains(_ENDS_SENTENCE)
    ).cast(pl.UInt32)
    index = pl.int_range(pl.len())
    return (
        text.str.replace_all(_LINE_BREAKS, "\n")
        .str.split("\n")
        .rename("line")
        .to_frame()
        .with_row_index("row")
        .explode("line")
        .with_columns(line.str.strip_chars())
        .group_by("row", maintain_order=True)
        .agg(
            c4_text=cited.filter(keep).str.join("\n").str.strip_chars(),
            c4_lines=pl.len().cast(pl.Int32),
            c4_lines_kept=keep.sum().cast(pl.Int32),
            c4_sentences=sentences.filter(keep).sum().cast(pl.Int32),
            c4_lorem_at=index.filter(lorem).min(),
            c4_curly_at=index.filter(curly).min(),
        )
        .drop("row")
    )


def fineweb_stats(text: pl.Series, short_line_length: int) -> pl.DataFrame:
    """Per document: FineWeb's line punctuation, short line, duplicate line character and list ratios."""
    t = pl.col("text")
    lines = t.str.split("\n")
    n_lines = lines.list.len()
    newlines = t.str.count_matches("\n", literal=True)
    _, dup_chars = _duplicates(lines.list.eval(pl.element().filter(pl.element().str.strip_chars() != "")))
    return (
        text.rename("text")
        .to_frame()
        .select(
            line_punct_ratio=_ratio(t.str.count_matches(rf"(?m)[{TERMINAL}]$"), n_lines),
            short_line_ratio=_ratio(t.str.count_matches(rf"(?m)^.{{0,{short_line_length}}}$"), n_lines),
            char_dup_ratio=_ratio(dup_chars, t.str.len_chars() - newlines),
            newline_word_ratio=_ratio(newlines, t.str.count_matches(WORD)),
        )
    )


def _rule(reason: str, stat: str, op: str, threshold: float) -> tuple[pl.Expr, str, pl.Expr]:
    """Fires when `stat op threshold`; the detail reads e.g. 'dup_line_frac=0.42 > 0.3'."""
    value = pl.col(stat)
    fires = {"<": value < threshold, ">": value > threshold, "<=": value <= threshold, ">=": value >= threshold}
    return fires[op], reason, pl.format(f"{stat}={{}} {op} {threshold}", value.round(3))


def _gopher_rules(g: GopherConfig, stop_words_apply: pl.Expr) -> list[tuple[pl.Expr, str, pl.Expr]]:
    checks = [
        ("gopher_short_doc", "words", "<", g.min_words),
        ("gopher_long_doc", "words", ">", g.max_words),
        ("gopher_mean_word_length", "mean_word_length", "<", g.min_avg_word_length),
        ("gopher_mean_word_length", "mean_word_length", ">", g.max_avg_word_length),
        ("gopher_symbol_word_ratio", "hash_word_ratio", ">", g.max_symbol_word_ratio),
        ("gopher_symbol_word_ratio", "ellipsis_word_ratio", ">", g.max_symbol_word_ratio),
        ("gopher_bullet_lines", "bullet_line_frac", ">", g.max_bullet_lines_ratio),
        ("gopher_ellipsis_lines", "ellipsis_line_frac", ">", g.max_ellipsis_lines_ratio),
        ("gopher_few_alpha_words", "alpha_word_frac", "<", g.max_non_alpha_words_ratio),
    ]
    rules = [_rule(*check) for check in checks if check[3] is not None]
    if g.min_stop_words is not None:
        fires, reason, detail = _rule("gopher_few_stop_words", "stop_words", "<", g.min_stop_words)
        rules.append((fires & stop_words_apply, reason, detail))
    repetition = [
        ("gopher_dup_line_frac", "dup_line_frac", g.dup_line_frac),
        ("gopher_dup_para_frac", "dup_para_frac", g.dup_para_frac),
        ("gopher_dup_line_char_frac", "dup_line_char_frac", g.dup_line_char_frac),
        ("gopher_dup_para_char_frac", "dup_para_char_frac", g.dup_para_char_frac),
        *((f"gopher_top_{n}_gram", f"top_{n}_gram_char_frac", frac) for n, frac in g.top_n_grams),
        *((f"gopher_dup_{n}_gram", f"dup_{n}_gram_char_frac", frac) for n, frac in g.dup_n_grams),
    ]
    return rules + [_rule(reason, stat, ">", thr) for reason, stat, thr in repetition if thr is not None]


def _c4_rules(c: C4Config) -> list[tuple[pl.Expr, str, pl.Expr]]:
    lorem, curly = pl.col("c4_lorem_at"), pl.col("c4_curly_at")
    rules = [
        # datatrove stops at the first line that drops the page, so the earlier of the two wins
        (lorem.is_not_null() & (curly.is_null() | (lorem <= curly)), "c4_lorem_ipsum", pl.format("line {}", lorem + 1)),
        (curly.is_not_null(), "c4_curly_bracket", pl.format("line {}", curly + 1)),
        (
            (pl.col("c4_lines_kept") == 0) | (pl.col("c4_text") == ""),
            "c4_empty_after_line_filter",
            pl.format("lines_kept={} of {}", pl.col("c4_lines_kept"), pl.col("c4_lines")),
        ),
    ]
    if c.min_sentences is not None:
        rules.append(_rule("c4_too_few_sentences", "c4_sentences", "<", c.min_sentences))
    return rules


class QualityStep(Step):
    """Gopher quality, Gopher repetition, C4 and FineWeb rules; each family switchable with `enabled`,
    each threshold with None. Needs `text` and `language`; adds `word_count`, may rewrite `text`."""

    stage = "quality"

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        """One row per input row: every statistic the enabled rules look at (score once, decide later)."""
        cfg: QualityConfig = self.config.quality
        text = batch["text"]
        parts = [text.rename("text").to_frame()]
        if cfg.gopher.enabled:
            quality = gopher_quality_stats(text)
            parts += [quality.drop("word_list"), gopher_repetition_stats(text, quality["word_list"], cfg.gopher)]
        else:
            parts.append(text.str.count_matches(WORD).cast(pl.Int32).rename("words").to_frame())
        final = text
        if cfg.c4.enabled:
            c4 = c4_filter_lines(text, cfg.c4)
            final = c4["c4_text"]
            parts += [c4, final.str.count_matches(WORD).cast(pl.Int32).rename("final_words").to_frame()]
        if cfg.fineweb.enabled:
            parts.append(fineweb_stats(final, cfg.fineweb.short_line_length))
        return pl.concat(parts, how="horizontal")

    def _rules(self, stop_words_apply: pl.Expr) -> list[tuple[pl.Expr, str, pl.Expr]]:
        cfg: QualityConfig = self.config.quality
        rules = _gopher_rules(cfg.gopher, stop_words_apply) if cfg.gopher.enabled else []
        if cfg.c4.enabled:
            rules += _c4_rules(cfg.c4)
        f = cfg.fineweb
        if f.enabled:
            checks = [
                ("fineweb_line_punct_ratio", "line_punct_ratio", "<=", f.line_punct_thr),
                ("fineweb_short_line_ratio", "short_line_ratio", ">=", f.short_line_thr),
                ("fineweb_char_dup_ratio", "char_dup_ratio", ">=", f.char_duplicates_ratio),
                ("fineweb_list_ratio", "newline_word_ratio", ">", f.new_line_ratio),
            ]
            rules += [_rule(*check) for check in checks if check[3] is not None]
        return rules

    def annotate(self, batch: pl.DataFrame) -> pl.DataFrame:
        g = self.config.quality.gopher
        stop_rule = g.enabled and g.min_stop_words is not None
        if stop_rule and "language" not in batch.columns:
            raise ValueError("QualityStep needs a `language` column for the stop-word rule (run LanguageStep first)")
        stats = self.score(batch)
        if stop_rule:
            stats = stats.with_columns(language=batch["language"])
        stop_words_apply = pl.col("language").is_in(list(g.stop_words_languages)).fill_null(False)
        reason, detail = first_reason(self._rules(stop_words_apply))
        c4 = self.config.quality.c4.enabled
        final, final_words = (pl.col("c4_text"), pl.col("final_words")) if c4 else (pl.col("text"), pl.col("words"))
        rewritten = pl.col(REASON).is_null() | pl.col(REASON).str.starts_with("fineweb_")
        decided = stats.with_columns(reason, detail).select(
            pl.when(rewritten).then(final).otherwise(pl.col("text")).alias("text"),
            pl.when(rewritten).then(final_words).otherwise(pl.col("words")).alias("word_count"),
            REASON,
            DETAIL,
        )
        return batch.with_columns(decided)
