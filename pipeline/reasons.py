"""What each ledger reason and each pipeline stage means, in one plain sentence: the one table the audit app,
`apertura stats` and the reports print beside a reason code, so that a person never has to decode
`gopher_few_stop_words` and every place says the same thing.

Light on purpose (it imports only the opt-out family declarations, whose signals name the `optout_*` reasons):
the app, the reports and the CLI import it without pulling in steps, sources or executors.

A reason code the table does not name still gets a sentence: its stage's, from its prefix (`gopher_` is a
quality rule). `tests/test_reasons.py` checks that every reason the pipeline's source can write has its own.
"""

from __future__ import annotations

import re

from pipeline.optout.families import FAMILIES

# Stages in pipeline order, with the name a person reads (the funnel, the removals table and `stats` use these)
# and why a record ends there. `registry` and `derive` are funnel entries of the manifest whose ledger rows say
# stage=optout: named by what they are.
STAGE_NAME: dict[str, str] = {
    "read": "reading",
    "extract": "text extraction",
    "language": "language",
    "quality": "quality filters",
    "pii": "personal data",
    "optout": "opt-outs",
    "registry": "opt-outs (rights-holder registry)",
    "derive": "opt-outs applied later",
    "dedup": "duplicates",
}
STAGE_TEXT: dict[str, str] = {
    "read": "the fetched record was not usable as a web page (HTTP status, content type, size, encoding or an "
    "empty or damaged record)",
    "extract": "no text could be extracted from it",
    "language": "its language was not kept, or identified with too little confidence",
    "quality": "it failed a quality filter (Gopher, C4 or FineWeb rules; the detail gives the measured value)",
    "pii": "it was removed by the personal-data step",
    "optout": "the rights holder opted out (robots.txt, TDMRep, noai, ai.txt or the registry): excluded as asked",
    "registry": "the rights holder opted out in the provider's registry: excluded as asked",
    "derive": "an opt-out that came into force after the parent release: excluded as asked",
    "dedup": "it duplicates another document, which is kept (see the kept copy)",
}

REASON_TEXT: dict[str, str] = {
    # read
    "read_http_status": "The server did not answer with a page (an HTTP error or redirect status).",
    "read_content_type": "The response was not a text or HTML page (another content type, e.g. an image or PDF).",
    "read_empty": "The response had an empty body.",
    "read_policy_file": "A site policy file (robots.txt, tdmrep.json, ai.txt): kept as opt-out evidence, not as a "
    "document.",
    "read_too_large": "The record was larger than the configured size limit.",
    "read_bad_encoding": "The response's content encoding (compression) could not be decoded.",
    "read_bad_http": "The stored HTTP response was malformed (no status line or broken headers).",
    "read_digest_mismatch": "The record's bytes do not match the checksum the archive stored for them.",
    "read_truncated": "The record is cut short in the input file (it ends before its declared length).",
    "read_unparsable": "Damaged input bytes that are no readable record; the span's file, offset and length are "
    "recorded.",
    "read_no_text": "The input row had no text.",
    "read_bad_json": "The input line was not a valid JSON object.",
    # extract
    "extract_no_text": "No main text was found on the page (only navigation, boilerplate or nothing).",
    "extract_undecodable": "The page's bytes could not be decoded as text in its character set.",
    "extract_too_deep": "The page's HTML is nested too deeply to be parsed safely.",
    "extract_failed": "The text extractor failed on this page.",
    # language
    "language_not_kept": "The text is in a language this release does not keep.",
    "language_low_score": "The language could not be identified with enough confidence.",
    # quality: Gopher (Rae et al. 2021)
    "gopher_short_doc": "Too few words to be a useful document.",
    "gopher_long_doc": "Too many words: more like a dump than a document.",
    "gopher_mean_word_length": "Its words are unusually short or long on average (often code, tables or garbage).",
    "gopher_symbol_word_ratio": "Too many '#' symbols or ellipses for its number of words.",
    "gopher_bullet_lines": "Most of its lines are bullet points.",
    "gopher_ellipsis_lines": "Too many of its lines end in an ellipsis (often cut-off previews).",
    "gopher_few_alpha_words": "Too few of its words contain letters.",
    "gopher_few_stop_words": "Too few common words such as 'the', 'and', 'of': not running text.",
    "gopher_dup_line_frac": "Too many of its lines repeat.",
    "gopher_dup_para_frac": "Too many of its paragraphs repeat.",
    "gopher_dup_line_char_frac": "Too much of its text is in repeated lines.",
    "gopher_dup_para_char_frac": "Too much of its text is in repeated paragraphs.",
    # quality: C4 (Raffel et al. 2020)
    "c4_lorem_ipsum": "It contains placeholder text ('lorem ipsum').",
    "c4_curly_bracket": "It contains a curly bracket, a sign of program code.",
    "c4_empty_after_line_filter": "Nothing was left after removing lines that are not sentences.",
    "c4_too_few_sentences": "Too few sentences.",
    # quality: FineWeb (Penedo et al. 2024)
    "fineweb_line_punct_ratio": "Too few of its lines end in punctuation: not running text.",
    "fineweb_short_line_ratio": "Too many of its lines are very short.",
    "fineweb_char_dup_ratio": "Too much of its text is in repeated lines.",
    "fineweb_list_ratio": "Too many line breaks for its words: a list rather than text.",
    # dedup
    "dedup_exact": "An exact copy of a kept document (same text once normalised); the kept copy is in the release.",
    "dedup_near": "A near copy of a kept document (most of their word sequences are shared); the kept copy is in "
    "the release.",
}

# Reasons with a number in them (quality rules configured per n).
REASON_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"gopher_top_(\d+)_gram"), "One {0}-word sequence makes up too much of its text."),
    (re.compile(r"gopher_dup_(\d+)_gram"), "Too much of its text is in repeated {0}-word sequences."),
)

OPTOUT_PREFIX = "optout_"


def _optout_texts() -> dict[str, str]:
    """`optout_<signal>` -> sentence, from the family declarations (a new family brings its reason with it)."""
    return {s.reason: f"Excluded as the rights holder asked: {s.text}." for f in FAMILIES for s in f.signals}


def stage_of(reason: str) -> str | None:
    """The stage a reason code belongs to, from its prefix (None if unknown)."""
    prefix = reason.split("_", 1)[0]
    return {"gopher": "quality", "c4": "quality", "fineweb": "quality"}.get(prefix) or (
        prefix if prefix in STAGE_TEXT else None
    )


def reason_text(reason: str | None, stage: str | None = None) -> str:
    """One plain sentence for a ledger reason; never empty (an unknown code gets its stage's sentence)."""
    if not reason:
        return ""
    if reason in REASON_TEXT:
        return REASON_TEXT[reason]
    optout = _optout_texts()
    if reason in optout:
        return optout[reason]
    for pattern, text in REASON_PATTERNS:
        match = pattern.fullmatch(reason)
        if match:
            return text.format(*match.groups())
    stage = stage_of(reason) or stage
    if stage in STAGE_TEXT:
        text = STAGE_TEXT[stage]
        return f"Removed because {text}."
    return "Removed by the pipeline (no description for this reason code)."


def known(reason: str) -> bool:
    """Whether `reason` has its own sentence (not just its stage's)."""
    return reason in REASON_TEXT or reason in _optout_texts() or any(p.fullmatch(reason) for p, _ in REASON_PATTERNS)


def step_name(stage: str, reason: str | None = None) -> str:
    """The name of the step that removed a record: the same in the funnel (manifest stages) and in the removals
    table (ledger stage and reason). A registry removal is stage=optout in the ledger and `registry` in the
    funnel: both say 'opt-outs (rights-holder registry)'."""
    if reason == OPTOUT_PREFIX + "registry":
        stage = "registry"
    return STAGE_NAME.get(stage, stage)


def with_plain_names(frame):  # a Polars DataFrame with `stage` and `reason` columns
    """`frame` with `step` (step_name) and `what it means` (reason_text) beside its `stage` and `reason`."""
    import polars as pl

    pairs = frame.select("stage", "reason").unique()
    names = pairs.with_columns(
        pl.Series("step", [step_name(s, r) for s, r in pairs.iter_rows()], pl.String),
        pl.Series("what it means", [reason_text(r, s) for s, r in pairs.iter_rows()], pl.String),
    )
    return frame.join(names, on=["stage", "reason"], how="left", nulls_equal=True, maintain_order="left")
