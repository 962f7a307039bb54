"""The step contract: a step annotates a batch and says, per row, keep or "drop, because".

Modelled on datatrove's filters (a filter only names the reason; the base class splits, counts and
routes removals to the ledger), but on whole Polars batches instead of single documents.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import polars as pl

from pipeline.config import RunConfig

REASON = "_reason"  # a step sets this column to a snake_case reason to remove the row (null keeps it)
DETAIL = "_detail"  # and this one to what fired, e.g. 'words=12 < 50'


@dataclass(frozen=True)
class StepResult:
    kept: pl.DataFrame
    removed: pl.DataFrame  # the removed rows with `stage`, `reason`, `detail` columns added
    evidence: pl.DataFrame | None = None  # rows a step records beside its decisions (opt-out evidence)


class Step(ABC):
    """One job on a batch. Subclasses set `stage` and implement `annotate`."""

    stage: ClassVar[str]

    def __init__(self, config: RunConfig | None = None) -> None:
        self.config = config or RunConfig()

    @abstractmethod
    def annotate(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Return `batch` with the step's columns added or rewritten, plus REASON and DETAIL."""

    def apply(self, batch: pl.DataFrame) -> StepResult:
        out = self.annotate(batch)
        if REASON not in out.columns:
            out = out.with_columns(pl.lit(None, pl.String).alias(REASON))
        if DETAIL not in out.columns:
            out = out.with_columns(pl.lit(None, pl.String).alias(DETAIL))
        dropped = pl.col(REASON).is_not_null()
        kept = out.filter(~dropped).drop(REASON, DETAIL)
        removed = out.filter(dropped).rename({REASON: "reason", DETAIL: "detail"})
        return StepResult(kept, removed.with_columns(stage=pl.lit(self.stage)))


def first_reason(rules: list[tuple[pl.Expr, str | pl.Expr, pl.Expr]]) -> tuple[pl.Expr, pl.Expr]:
    """Combine (fires, reason, detail) rules into REASON/DETAIL expressions: the first rule that fires wins.

    `reason` is a literal reason name, or an expression when the reason comes from the data.
    """
    if not rules:
        return pl.lit(None, pl.String).alias(REASON), pl.lit(None, pl.String).alias(DETAIL)
    reason: pl.Expr = pl.lit(None, pl.String)
    detail: pl.Expr = pl.lit(None, pl.String)
    for fires, name, why in reversed(rules):
        name_expr = pl.lit(name) if isinstance(name, str) else name
        reason = pl.when(fires).then(name_expr).otherwise(reason)
        detail = pl.when(fires).then(why).otherwise(detail)
    return reason.alias(REASON), detail.alias(DETAIL)
