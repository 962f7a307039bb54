"""The per-record steps, and the step list of a run as data.

Each step is set up once and knows nothing about files or executors. A run's steps are config `steps`: the
built-in names in `DEFAULT` (in their order) with, anywhere after `admit`, user steps written `module:Class`,
a subclass of `Step` that sets `stage` and implements `annotate(batch) -> batch` (setting `REASON`/`DETAIL` on
the rows it removes). The one base class splits, counts and ledgers a user step's removals like a built-in's::

    from pipeline import steps

    class NoCasino(steps.Step):
        stage = "no_casino"

        def annotate(self, batch):
            fires = batch["text"].str.contains("(?i)casino")
            return batch.with_columns(
                pl.when(fires).then(pl.lit("casino_spam")).alias(steps.REASON),
                pl.when(fires).then(pl.lit("mentions a casino")).alias(steps.DETAIL),
            )

    run([...], out="releases/r1", steps=[*steps.DEFAULT, NoCasino])

Nothing heavy is imported here: `Step`, `REASON`, `DETAIL` and the step classes load on first use.
"""

from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING, Any

from pipeline.config import BUILTIN_STEPS, STEP_SPEC, StepError, check_step_list

if TYPE_CHECKING:
    from pipeline.config import RunConfig
    from pipeline.steps.base import Step

BUILTIN: dict[str, str] = {
    "admit": "pipeline.steps.admit:AdmitStep",
    "optout": "pipeline.steps.optout:OptoutStep",
    "extract": "pipeline.steps.extract:ExtractStep",
    "language": "pipeline.steps.language:LanguageStep",
    "quality": "pipeline.steps.quality:QualityStep",
    "pii": "pipeline.steps.pii:PiiStep",
}
DEFAULT: tuple[str, ...] = BUILTIN_STEPS
assert tuple(BUILTIN) == BUILTIN_STEPS, "the built-in steps are named in pipeline.config and classed here"
# stages the release adds after the per-record steps (dedup, registry opt-outs, derive): no step may take them
RESERVED_STAGES = frozenset({"dedup", "registry", "derive"})
_STAGE = re.compile(r"[a-z][a-z0-9_]{0,39}")


def spec_of(step: Any) -> str:
    """A step list entry as config records it: a built-in name, `module:Class` for a user step (a `Step`
    subclass, or an instance of one: its class is what runs, constructed from the run's config)."""
    if isinstance(step, str):
        return step.strip()
    cls = step if isinstance(step, type) else type(step)
    if "<locals>" in cls.__qualname__ or "." in cls.__qualname__:
        raise StepError(f"step {cls.__qualname__} is not importable: define it at the top level of a module")
    return f"{cls.__module__}:{cls.__qualname__}"


def resolve(spec: str) -> type[Step]:
    """The step class an entry names; StepError (one line) when it names none."""
    from pipeline.steps.base import Step

    path = BUILTIN.get(spec, spec)
    if not STEP_SPEC.fullmatch(path):
        raise StepError(f"step {spec!r}: not a built-in step ({', '.join(DEFAULT)}) nor 'module:Class'")
    module, _, name = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise StepError(f"step {spec!r} cannot be imported: {err}") from None
    if not (isinstance(cls, type) and issubclass(cls, Step)):
        raise StepError(f"step {spec!r} is not a subclass of pipeline.steps.Step")
    stage = getattr(cls, "stage", None)
    if not isinstance(stage, str) or not _STAGE.fullmatch(stage):
        raise StepError(f"step {spec!r} needs a `stage` name: lower case, digits and '_', at most 40 characters")
    return cls


def validate(specs: tuple[str, ...] | list[str], *, load: bool = True) -> tuple[str, ...]:
    """The list as given, checked: every built-in step once, in its order, `admit` first (it judges what reading
    saw); user steps after it, each with a stage name of its own that no release stage takes. `load=False`
    checks the spelling only, importing nothing (what config validation does; a run loads them)."""
    specs = check_step_list(tuple(spec_of(s) for s in specs))
    if not load:
        return specs
    stages = [resolve(s).stage for s in specs]
    if taken := sorted({s for s in stages if stages.count(s) > 1} | (set(stages) & RESERVED_STAGES)):
        raise StepError(f"stage name(s) {', '.join(taken)} taken: give each user step a stage of its own")
    return specs


def stage_names(config: RunConfig) -> tuple[str, ...]:
    """The per-record stages of a run, in order: what the ledger's `stage` and the manifest's funnel name."""
    return tuple(resolve(s).stage for s in config.steps)


def build(config: RunConfig, policies: Any = None) -> list[Step]:
    """The run's steps, set up once (`policies`: the run's parsed site policy files, for the opt-out step)."""
    from pipeline.steps.optout import OptoutStep

    out = []
    for spec in config.steps:
        cls = resolve(spec)
        out.append(cls(config, policies) if cls is OptoutStep else cls(config))
    return out


def __getattr__(name: str) -> Any:
    if name in ("Step", "StepResult", "REASON", "DETAIL", "first_reason"):
        from pipeline.steps import base

        return getattr(base, name)
    raise AttributeError(f"module 'pipeline.steps' has no attribute {name!r}")
