"""One typed configuration per run. Its canonical JSON hash is written into every row's provenance.

Defaults follow the papers they come from (Gopher: Rae et al. 2021, C4: Raffel et al. 2020,
FineWeb: Penedo et al. 2024); `None` on a threshold switches that check off.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def canonical_json(recorded: dict) -> str:
    return json.dumps(recorded, sort_keys=True, separators=(",", ":"))


def config_hash(recorded: dict) -> str:
    """The hash of a config as recorded. `verify` hashes the manifest's `config` itself, not a re-parse of it: a
    release recorded before a field was added keeps its hash (the re-parse would add the field's default)."""
    return "sha256:" + hashlib.sha256(canonical_json(recorded).encode()).hexdigest()


YAML_SUFFIXES = (".yaml", ".yml")


def read_config_file(path: Path) -> dict:
    """The fields of a config file: YAML for a .yaml/.yml name, JSON otherwise. ValueError (one line) when it
    does not parse or is not a mapping of fields; OSError when it cannot be read."""
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix.lower() in YAML_SUFFIXES:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise ValueError(f"not valid YAML: {problem}{where}") from None
        data = {} if data is None else data  # an empty file: every field keeps its default
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"expected a mapping of config fields, found {type(data).__name__}")
    return data


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReadConfig(_Section):
    max_payload_bytes: int = Field(
        10 * 1024 * 1024,
        description="Records with a larger HTTP body, or a Parquet/JSONL text larger than this, go to the ledger "
        "(read_too_large); a JSONL line longer than 6 times this is not parsed at all.",
    )
    max_batch_bytes: int = Field(
        32 * 1024 * 1024,
        ge=1,
        description="A batch is cut once its payload/text bytes reach this, as well as at batch_size records: memory "
        "follows bytes, not rows (a step holds a small multiple of its batch's text; bench/quality_memory.py).",
    )
    content_types: tuple[str, ...] = Field(
        ("text/html", "application/xhtml+xml", "text/plain"),
        description="MIME types that can become documents; others go to the ledger (read_content_type).",
    )


class ExtractConfig(_Section):
    extractor: Literal["trafilatura", "resiliparse"] = Field(
        "trafilatura", description="trafilatura (precise, slow) or resiliparse (fast main-content extraction)."
    )
    favor_precision: bool = Field(True, description="trafilatura: prefer dropping boilerplate over recall.")
    keep_title: bool = Field(True, description="Store the page title in the `title` column.")


class LanguageConfig(_Section):
    keep: tuple[str, ...] | None = Field(
        None, description="ISO 639 codes to keep; None keeps every language (language is then only a tag)."
    )
    min_score: float = Field(0.0, description="With `keep`, documents whose top-language score is lower are removed.")


class GopherConfig(_Section):
    """Gopher quality and repetition rules (Rae et al. 2021, appendix A), as used by FineWeb."""

    enabled: bool = True
    min_words: int | None = 50
    max_words: int | None = 100_000
    min_avg_word_length: float | None = 3
    max_avg_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    max_non_alpha_words_ratio: float | None = 0.8  # TODO rename: a *minimum* share of alphabetic words
    min_stop_words: int | None = 2
    stop_words_languages: tuple[str, ...] = Field(
        ("en",), description="The stop-word rule uses English stop words, so it only applies to these."
    )
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_n_grams: tuple[tuple[int, float], ...] = ((2, 0.2), (3, 0.18), (4, 0.16))
    dup_n_grams: tuple[tuple[int, float], ...] = (
        (5, 0.15),
        (6, 0.14),
        (7, 0.13),
        (8, 0.12),
        (9, 0.11),
        (10, 0.10),
    )


class C4Config(_Section):
    """C4 rules (Raffel et al. 2020) with FineWeb's setting (no terminal-punctuation line filter)."""

    enabled: bool = True
    filter_no_terminal_punct: bool = False
    min_words_per_line: int | None = 3
    max_word_length: int | None = 1000
    min_sentences: int | None = 5
    remove_javascript_lines: bool = True
    remove_policy_lines: bool = True
    remove_citations: bool = Field(True, description="Strip Wikipedia-style [1], [edit], [citation needed] marks.")
    filter_lorem_ipsum: bool = True
    filter_curly_bracket: bool = True


class FineWebConfig(_Section):
    """FineWeb's own heuristic filters (Penedo et al. 2024, section 3.3)."""

    enabled: bool = True
    line_punct_thr: float | None = 0.12
    short_line_thr: float | None = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float | None = 0.01
    new_line_ratio: float | None = 0.3


class QualityConfig(_Section):
    gopher: GopherConfig = GopherConfig()
    c4: C4Config = C4Config()
    fineweb: FineWebConfig = FineWebConfig()


class PiiConfig(_Section):
    """Placeholders as in the Apertus pipeline; counts are kept per document."""

    emails: bool = True
    ip_addresses: bool = True
    ibans: bool = True


class DedupConfig(_Section):
    """Exact then MinHash near-duplicate dedup with FineWeb's defaults (5-grams, 14 bands x 8 rows)."""

    exact: bool = True
    near: bool = True
    ngram_size: int = 5
    bands: int = 14
    rows_per_band: int = 8
    seed: int = 1
    min_signature_agreement: float | None = Field(
        0.7,
        description="A band collision links two documents only if this share of their signatures agrees "
        "(estimated Jaccard); None links on any collision, as FineWeb does. Stops merges of pairs below 0.5.",
    )


# The step list as config spells it (pipeline.steps loads and builds it): the built-in steps, always all of
# them and in this order, with user steps written 'module:Class' anywhere after `admit`.
BUILTIN_STEPS: tuple[str, ...] = ("admit", "optout", "extract", "language", "quality", "pii")
STEP_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


class StepError(ValueError):
    """A step list that cannot run: the message says which entry and why."""


def check_step_list(specs: tuple[str, ...]) -> tuple[str, ...]:
    """The list as given when it is spelled right: every built-in step once, in its order, `admit` first (it
    judges what reading saw), the others built-in names or 'module:Class'. Imports nothing."""
    builtins = [s for s in specs if s in BUILTIN_STEPS]
    if builtins != list(BUILTIN_STEPS):
        raise StepError(f"the built-in steps must all be there, in this order: {', '.join(BUILTIN_STEPS)}")
    if specs[0] != "admit":
        raise StepError("'admit' must be the first step: it judges what reading saw")
    if bad := [s for s in specs if s not in BUILTIN_STEPS and not STEP_SPEC.fullmatch(s)]:
        raise StepError(f"step {bad[0]!r}: not a built-in step ({', '.join(BUILTIN_STEPS)}) nor 'module:Class'")
    return specs


def _honoured_agents() -> tuple[str, ...]:
    from pipeline.optout.agents import APERTUS_AGENTS, OUR_AGENT

    return (*APERTUS_AGENTS, OUR_AGENT)


class OptoutConfig(_Section):
    """Which opt-outs remove a document. Robots groups for `*` apply to every agent without its own group."""

    enabled: bool = True
    agents: tuple[str, ...] = Field(
        default_factory=_honoured_agents,
        description="User agents whose reservations are honoured: the ones Apertus checked, plus our crawler.",
    )
    malformed_tdmrep: Literal["unset", "reserved", "allowed"] = Field(
        "unset",
        description="What a TDMRep protocol error means (a tdm-reservation other than 0 or 1, a tdmrep.json that "
        "is not a JSON array, an entry without a location or value): 'unset', as the spec says (that source sets "
        "nothing; the error is kept as evidence), or 'reserved' (treated as a reservation). 'allowed' is the old "
        "spelling of 'unset', still accepted so that existing releases' configs load and hash unchanged.",
    )


class RunConfig(_Section):
    """Everything that decides what a release contains. Change a field, change the hash (all but `source_root`,
    which says where the inputs were, not what they are: see `recorded`)."""

    dump: str = Field("apertura-local", description="Crawl/dump name written to the FineWeb `dump` column.")
    batch_size: int = Field(256, description="Records per batch; bounds memory per worker.")
    rows_per_file: int = Field(250_000, description="Maximum rows per output Parquet file.")
    ledger_keep_text: bool = Field(
        True, description="Keep extracted text of filtered/duplicate records in the ledger (never opt-outs)."
    )
    read: ReadConfig = ReadConfig()
    optout: OptoutConfig = OptoutConfig()
    extract: ExtractConfig = ExtractConfig()
    language: LanguageConfig = LanguageConfig()
    quality: QualityConfig = QualityConfig()
    pii: PiiConfig = PiiConfig()
    dedup: DedupConfig = DedupConfig()
    tokenizer: str | None = Field(
        None,
        description="Path to a Hugging Face `tokenizer.json` (the `tokenizers` library, `pip install "
        "'apertura[tokens]'`): each document's `token_count` is counted with it, and the manifest records its sha256. "
        "None: no count (the EU summary then estimates tokens from words and says so).",
    )
    steps: tuple[str, ...] = Field(
        default=BUILTIN_STEPS,
        description="The per-record steps in order: the built-in ones (admit, optout, extract, language, quality, "
        "pii), with user steps as 'module:Class' anywhere after admit (see pipeline/steps/__init__.py).",
    )

    source_root: str | None = Field(
        None,
        description="Directory the inputs are recorded relative to (`file_path`, the manifest's inputs), so a release "
        "moved with its inputs can re-check their bytes; an input outside it is refused. The manifest records it, "
        "absolute, as `source_root`; it is not part of the config hash. None: paths are recorded as typed.",
    )

    @field_validator("steps")
    @classmethod
    def _steps_spelled_right(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_step_list(tuple(value))

    def recorded(self) -> dict:
        """The config as a release records it (the manifest's `config`), and what its hash is taken of. The default
        step list is left out, so a run that does not change it records (and hashes) what releases recorded
        before the list was configurable; so is an unset tokenizer. The source root is never in it: the manifest
        records it beside the config (`source_root`), and the relative paths it gives are in the rows themselves,
        so the same files laid out the same way under another root make the same release and hash."""
        recorded = self.model_dump(mode="json", exclude={"source_root"})
        if tuple(recorded["steps"]) == BUILTIN_STEPS:
            del recorded["steps"]
        if recorded["tokenizer"] is None:  # likewise: a run without a tokenizer hashes as before the field existed
            del recorded["tokenizer"]
        return recorded

    def canonical_json(self) -> str:
        return canonical_json(self.recorded())

    def hash(self) -> str:
        return config_hash(self.recorded())

    @classmethod
    def load(cls, path: Path | None) -> RunConfig:
        """Read a JSON or YAML config file (`read_config_file`); fields it leaves out keep their defaults."""
        if path is None:
            return cls()
        return cls.model_validate(read_config_file(path))
