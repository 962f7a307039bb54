"""`apertura verify`: check a release from its files alone, the way an outside auditor would.

Checks: the manifest is well-formed; every listed file exists with the listed size, row count and sha256 and nothing
unlisted sits beside them; every table has its schema from `schemas/`; the conservation law holds per input and in total
(eligible == kept + removed, recomputed from the Parquet with DuckDB; an input's rows carry its sha256 and format); the
figures printed beside it add up (each input's eligible records are its records of the eligible types, the totals by
record type are the inputs' sums, the funnel runs from every eligible record to the kept documents and removes at each
stage what the ledger removed there; the opt-out summary's agents and switch are the config's, its policy files and
their sites the evidence's); ids are unique; signatures align with documents; every `duplicate_of` points at a kept
document and an exact duplicate's twin (named in its detail) has its normalised text; every row carries the manifest's
config hash; each file's schema version is its format's. From format 2: no kept document has an opt-out decision that
reserves it (zero violations), every opt-out removal has that evidence and carries the reason of a signal that reserved
it, and every evidence row is about a record the release accounts for. From format 3: URL identities, text hashes and
the documents' MinHash signatures recompute from the URLs and texts (the normalisation and signing cost verify about
what they cost the build). From format 4:
conservation in bytes (the spans of an input's documents and ledger rows, unreadable spans included, do not overlap, and
with the bytes of its other records they are the whole file), and the commitments (Merkle roots over the kept URLs,
texts and removals) rebuild from the tables (`pipeline.proofs.commitments`). From format 5: the dataset card
(`README.md`) and the Croissant (`croissant.json`) are listed with their sha256 and describe exactly the listed table
files, and say nothing else about loading (`datasets` and `mlcroissant` then load what the manifest vouches for). From
format 6: with a `source_root`, every local input path the release records is relative to it (a release moved with its
inputs re-checks their bytes under another root). With a registry (given, or recorded by the release): its recorded
state (hash, entry count) recomputes, every entry the release's removals cite was in force at the recorded instant, and
no document matches an entry in force then. Any release: a signature beside the manifest verifies (with `pubkey`, the
publisher's key, when given).

`verify` never crashes on what it reads: a check that cannot run (a listed file that is not Parquet, tables
swapped, columns missing) is a failed finding with its reason, in text and in `--json`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import jsonschema
import pyarrow.parquet as pq

import schemas
from pipeline.config import DedupConfig, RunConfig, config_hash
from pipeline.release_read import ReleaseError, inside, load_manifest, table_files
from pipeline.tables import file_sha256

if TYPE_CHECKING:
    import polars as pl

    from pipeline.optout.registry import Registry
    from pipeline.release_read.remote import Fetched


EXAMPLES = 3  # rows a failed finding names: enough to look them up, one line however many rows fail


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""
    checked: bool = True  # False: nothing to check it against here (ok, but no promise): the detail says why


@dataclass
class VerifyReport:
    release: str
    checks: list[Check] = field(default_factory=list)
    fetched: str | None = None  # a remote release: where it was downloaded from (remote.Fetched.describe)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def not_checked(self) -> list[Check]:
        return [c for c in self.checks if not c.checked]

    def add(self, name: str, ok: bool, detail: str = "", checked: bool = True) -> None:
        self.checks.append(Check(name, bool(ok), detail, bool(checked)))

    def to_dict(self) -> dict:
        fetched = {"fetched": self.fetched} if self.fetched else {}
        return {"release": self.release, **fetched, "ok": self.ok, "checks": [asdict(c) for c in self.checks]}


def _check_files(release: Path, manifest: dict, report: VerifyReport, fetched: Fetched | None = None) -> bool:
    """Every listed file present with its size and sha256, nothing unlisted in a table directory. `fetched`: a
    remote release's copy, whose refused objects (larger than recorded, over the limit for undescribed files) were
    not downloaded: each is a failure of this check, said as the store holds it."""
    problems = list(fetched.refused) if fetched else []
    withheld = fetched.withheld if fetched else frozenset()
    described = manifest.get("descriptions") or []  # format 5: the dataset card and the Croissant
    listed = {f["path"] for f in manifest["files"]} | {d["path"] for d in described}
    paths = Counter(f["path"] for f in [*manifest["files"], *described])
    problems += [f"{path}: listed {n} times" for path, n in sorted(paths.items()) if n > 1]
    if manifest["format_version"] >= schemas.DESCRIPTIONS_FROM:
        for name, kind in schemas.DESCRIPTIONS.items():
            if not any(d["path"] == name and d["kind"] == kind for d in described):
                problems.append(f"{name}: not listed in the manifest's descriptions (as {kind})")
        for d in described:
            if schemas.DESCRIPTIONS.get(d["path"]) != d["kind"]:
                problems.append(f"{d['path']}: listed as {d['kind']}, which it is not")
    for f in [*manifest["files"], *described]:
        path = release / f["path"]
        if f["path"] in withheld:
            continue
        if not path.is_file():
            problems.append(f"{f['path']}: missing")
            continue
        try:
            if path.stat().st_size != f["bytes"]:
                problems.append(f"{f['path']}: {path.stat().st_size} bytes, manifest says {f['bytes']}")
            elif file_sha256(path) != f["sha256"]:
                problems.append(f"{f['path']}: sha256 differs from the manifest (file changed)")
        except OSError as err:
            problems.append(f"{f['path']}: unreadable ({err.strerror or err})")
    for table in schemas.TABLES:  # every table directory, also of tables this format does not hold
        for path in sorted((release / table).glob("*")):
            rel = f"{table}/{path.name}"
            if rel not in listed:
                problems.append(f"{rel}: not listed in the manifest")
    report.add("files and sha256", not problems, "; ".join(problems) or f"{len(listed)} files match")
    return not problems


DESCRIBED = "dataset card and Croissant describe the tables"
MAX_DESCRIPTION_BYTES = 64 << 20  # a card or Croissant of a release with 100,000 parts is a few MiB
# What a description may say about loading, and nothing else: any other key changes what a loader reads (a card
# config's `data_dir`, `filters`, `columns` or `features`; a record set's inline `data`; a field's `transform`).
CONFIG_KEYS = frozenset({"config_name", "data_files", "default"})
RECORD_SET_KEYS = frozenset({"@type", "@id", "name", "description", "field", "key"})
FIELD_KEYS = frozenset({"@type", "@id", "name", "description", "dataType", "source", "repeated"})


def _check_descriptions(release: Path, manifest: dict, report: VerifyReport) -> None:
    """Format 5: the dataset card's `configs:` load exactly the listed parts of each table with rows (documents by
    default), and the Croissant lists exactly the table files with their sha256 and each table's columns, so that
    `datasets` and `mlcroissant` read what the manifest vouches for and nothing else."""
    import yaml

    from pipeline.reports.card import CONFIGS

    problems = []
    try:
        card, croissant = (inside(release, name, "a description") for name in ("README.md", "croissant.json"))
    except ReleaseError as err:  # a symlink leading out of the release
        report.add(DESCRIBED, False, str(err))
        return
    for path in (card, croissant):  # their sha256 matched: a size that no description has is refused unparsed
        if path.stat().st_size > MAX_DESCRIPTION_BYTES:
            report.add(DESCRIBED, False, f"{path.name}: larger than {MAX_DESCRIPTION_BYTES >> 20} MiB, not parsed")
            return
    try:
        text = card.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        report.add(DESCRIBED, False, f"README.md: not UTF-8 text ({err.reason} at byte {err.start})")
        return
    head, sep, _ = text.removeprefix("---\n").partition("\n---\n")
    meta = yaml.safe_load(head) if text.startswith("---\n") and sep else None
    if not isinstance(meta, dict) or not isinstance(meta.get("configs"), list):
        problems.append("README.md: no YAML front matter with `configs:`")
        meta = {"configs": []}
    configs = {c.get("config_name"): c for c in meta["configs"] if isinstance(c, dict)}
    for name, config in configs.items():
        if extra := sorted(set(config) - CONFIG_KEYS):
            problems.append(f"README.md: config {name!r} also sets {', '.join(map(str, extra))}, "
                            "so `datasets` would not load just the listed parts")  # fmt: skip
    for name, table in CONFIGS.items():
        parts = sorted(f["path"] for f in manifest["files"] if f["table"] == table and f["rows"])
        found = configs.pop(name, {}).get("data_files", [])
        if sorted(found if isinstance(found, list) else [found]) != parts:
            problems.append(f"README.md: config {name!r} loads {found!r}, the manifest lists {parts!r} with rows")
    problems += [f"README.md: config {name!r} is no table of the release" for name in configs]
    defaults = [c.get("config_name") for c in meta["configs"] if isinstance(c, dict) and c.get("default")]
    kept = any(f["table"] == "documents" and f["rows"] for f in manifest["files"])
    if defaults != (["documents"] if kept else []):  # no documents: no config can be the default
        problems.append(f"README.md: the default config is {defaults!r}, not the documents")
    doc, unreadable = _read_croissant(croissant)
    if unreadable:
        report.add(DESCRIBED, False, "; ".join([*problems, f"croissant.json: {unreadable}"]))
        return
    distribution = doc.get("distribution", [])
    objects = {o.get("contentUrl"): o.get("sha256") for o in distribution if o.get("@type") == "cr:FileObject"}
    expected = {f["path"]: f["sha256"] for f in manifest["files"]}
    if objects != expected:
        odd = sorted(set(objects.items()) ^ set(expected.items()))[:EXAMPLES]
        problems.append(f"croissant.json: its files and sha256 differ from the manifest's, e.g. {odd}")
    held = schemas.TABLE_VERSIONS[manifest["format_version"]]  # a listed version that differs: table schemas says so
    versions = {f["table"]: held[f["table"]] for f in manifest["files"] if f["table"] in held}
    file_sets = {o.get("@id"): o.get("includes") for o in distribution if o.get("@type") == "cr:FileSet"}
    parts = {f"{t}-parquet": [f["path"] for f in manifest["files"] if f["table"] == t] for t in versions}
    others = [o.get("@type") for o in distribution if o.get("@type") not in ("cr:FileObject", "cr:FileSet")]
    if file_sets != parts or others:
        odd = sorted(set(file_sets) ^ set(parts)) or [k for k in parts if file_sets[k] != parts[k]] or others
        problems.append(f"croissant.json: its file sets are not the tables' listed parts, e.g. {odd[:EXAMPLES]}")
    record_sets = doc.get("recordSet", [])
    for record_set in record_sets:
        table = record_set.get("@id")
        fields = record_set.get("field", [])
        spec = schemas.table_spec(table, versions[table]) if table in versions else {"columns": []}
        columns = [c["name"] for c in spec["columns"]]
        source = {"fileSet": {"@id": f"{table}-parquet"}}  # every column read from the table's own parts
        if not columns or [f.get("name") for f in fields] != columns:
            problems.append(f"croissant.json: record set {table!r} is not a table of the release with its columns")
        elif set(record_set) - RECORD_SET_KEYS or any(
            set(f) - FIELD_KEYS or f.get("source") != {**source, "extract": {"column": f.get("name")}} for f in fields
        ):
            problems.append(f"croissant.json: record set {table!r} does not read each column from the table's parts")
    if undescribed := sorted(set(versions) - {r.get("@id") for r in record_sets}):
        problems.append(f"croissant.json: no record set describes {', '.join(undescribed)}")
    report.add(DESCRIBED, not problems, "; ".join(problems) or
               f"{len(meta['configs'])} configs and {len(objects)} Croissant files match the manifest")  # fmt: skip


def _read_croissant(path: Path) -> tuple[dict, str | None]:
    """The Croissant as the description check reads it, or why it cannot be read: not JSON, or not shaped as a
    Croissant (an object whose distribution, record sets and their fields are lists of objects)."""
    import json

    try:
        doc = json.loads(path.read_bytes())
    except ValueError as err:  # JSONDecodeError, and UnicodeDecodeError for bytes that are no UTF-8/16/32 text
        return {}, f"not JSON ({_first_line(err)})"

    def objects(value: Any) -> bool:
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)

    if not (isinstance(doc, dict) and objects(doc.get("distribution", [])) and objects(doc.get("recordSet", []))
            and all(objects(r.get("field", [])) for r in doc.get("recordSet", []))):  # fmt: skip
        return {}, "not a Croissant object (its distribution, record sets and their fields are lists of objects)"
    return doc, None


def _check_schemas(release: Path, manifest: dict, report: VerifyReport) -> None:
    """Each file has its format's schema: a table's version is the one its format holds, so a release relabelled
    as an older format (to skip the checks that format lacks) keeps tables that format never had, and fails."""
    problems = []
    versions = schemas.TABLE_VERSIONS[manifest["format_version"]]
    for f in manifest["files"]:
        held = versions[f["table"]]  # the manifest's schema names only its format's tables
        if held != f["schema_version"]:
            problems.append(f"{f['path']}: listed as {f['table']}.v{f['schema_version']}; "
                            f"format {manifest['format_version']} has {f['table']}.v{held}")  # fmt: skip
            continue
        expected = schemas.arrow_schema(f["table"], f["schema_version"])
        try:
            meta = pq.read_metadata(release / f["path"])
            found = meta.schema.to_arrow_schema()
        except Exception as err:  # pyarrow's ArrowInvalid and OSError: listed, hashed, and still no Parquet
            problems.append(f"{f['path']}: not a readable Parquet file ({_first_line(err)})")
            continue
        if not found.remove_metadata().equals(expected.remove_metadata()):
            problems.append(f"{f['path']}: columns differ from {f['table']}.v{f['schema_version']}")
        if meta.num_rows != f["rows"]:
            problems.append(f"{f['path']}: {meta.num_rows} rows, manifest says {f['rows']}")
    report.add("table schemas", not problems, "; ".join(problems) or "every file matches schemas/")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def _guarded(report: VerifyReport, name: str, check, *args) -> None:
    """Run one check; if it cannot run, that is a failed finding named `name`, never a traceback."""
    try:
        check(*args)
    except ReleaseError:
        raise
    except Exception as err:  # duckdb, polars, pyarrow, OS errors on tables that passed their hashes
        report.add(name, False, f"could not be checked: {_first_line(err)}")


def _check_bytes(release: Path, manifest: dict, report: VerifyReport) -> None:
    """Format 4, conservation in bytes: for every input read as WARC/WET/ARC, the spans of its documents and
    ledger rows (records and unreadable spans) lie in the file without overlapping and cover exactly the bytes
    the manifest gives to eligible records and unreadable spans; with its other records' bytes that is the file."""
    from pipeline.sources.base import ELIGIBLE_TYPES, UNREADABLE

    con = duckdb.connect()
    params = {"docs": table_files(release, manifest, "documents"), "ledger": table_files(release, manifest, "ledger")}
    spans = con.sql(
        """
        with rows as (
          select file_path, warc_record_offset as o, warc_record_length as n, false as hole, null as reason
          from read_parquet($docs)
          union all
          select file_path, warc_record_offset, warc_record_length, record_type = 'unreadable', reason
          from read_parquet($ledger)
        ), ordered as (
          select *, lag(o + n) over (partition by file_path order by o, n) as before from rows
        )
        select file_path, count(*) filter (where n is null or n <= 0 or o < 0),
               count(*) filter (where before > o), min(o) filter (where before > o), coalesce(max(o + n), 0),
               coalesce(sum(n), 0), count(*) filter (where hole), coalesce(sum(n) filter (where hole), 0),
               count(*) filter (where hole and reason <> 'read_unparsable')
        from ordered group by file_path
        """,
        params=params,
    ).fetchall()
    found = {row[0]: row[1:] for row in spans}
    problems = []
    for entry in manifest["inputs"]:
        path, size, by_type = entry["path"], entry["bytes"], entry.get("bytes_by_type")
        if entry["format"] not in ("warc", "wet", "arc"):
            continue
        if by_type is None:
            problems.append(f"{path}: no bytes_by_type for a {entry['format']} input")
            continue
        bad, overlaps, first_overlap, end, covered, holes, hole_bytes, bad_holes = found.pop(path, (0,) * 8)
        if sum(by_type.values()) != size:
            problems.append(f"{path}: bytes_by_type sums to {sum(by_type.values()):,}, the file has {size:,} bytes")
        if set(by_type) != set(entry["records_by_type"]):
            counted = sorted(entry["records_by_type"])
            problems.append(f"{path}: record types with bytes {sorted(by_type)} != record types counted {counted}")
        if bad:
            problems.append(f"{path}: {bad} rows without a byte span")
        if overlaps:
            problems.append(f"{path}: {overlaps} rows overlap the row before them (first at byte {first_overlap})")
        if end > size:
            problems.append(f"{path}: rows reach byte {end:,} of a {size:,}-byte file")
        expected = sum(n for t, n in by_type.items() if t in ELIGIBLE_TYPES)
        if covered != expected:
            what = "unaccounted (in no document, ledger row or other record)" if covered < expected else "too many"
            problems.append(
                f"{path}: {abs(expected - covered):,} bytes {what}: the rows cover {covered:,}, "
                f"the manifest gives {expected:,} to records that are rows"
            )
        if (holes, hole_bytes) != (entry["records_by_type"].get(UNREADABLE, 0), by_type.get(UNREADABLE, 0)):
            problems.append(
                f"{path}: {holes} unreadable spans ({hole_bytes:,} bytes) in the ledger, the manifest says "
                f"{entry['records_by_type'].get(UNREADABLE, 0)} ({by_type.get(UNREADABLE, 0):,} bytes)"
            )
        if bad_holes:
            problems.append(f"{path}: {bad_holes} unreadable spans whose reason is not read_unparsable")
    spans_total = sum((e.get("bytes_by_type") or {}).get(UNREADABLE, 0) for e in manifest["inputs"])
    holes_total = sum(e["records_by_type"].get(UNREADABLE, 0) for e in manifest["inputs"])
    report.add(
        "conservation in bytes (record spans + unreadable spans = the file)",
        not problems,
        "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        if problems
        else f"every byte of {sum(1 for e in manifest['inputs'] if e.get('bytes_by_type') is not None)} inputs "
        f"accounted for; {holes_total} unreadable spans ({spans_total:,} bytes) in the ledger",
    )


SOURCE_PATHS = "input paths recorded relative to the source root"


def _check_source_paths(release: Path, manifest: dict, report: VerifyReport) -> None:
    """Format 6: with a source root, it is absolute and every local input path the release records (the manifest's
    inputs and opt-out snapshots) is relative to it, POSIX, with no `.` or `..` part, so the release moved with its
    inputs re-checks their bytes under another root. The documents' and ledger's `file_path` are these paths: that
    the rows name only listed inputs is the conservation check's. Without a root (null) the paths were recorded as
    typed."""
    from pathlib import PurePosixPath

    from pipeline.source_paths import is_clean_relative, is_url

    root = manifest["source_root"]
    if root is None:
        report.add(SOURCE_PATHS, True, "no source root: input paths recorded as typed")
        return
    listed = [e["path"] for e in manifest["inputs"]] + [s["path"] for s in manifest["optout"]["snapshots"]]
    recorded = list(dict.fromkeys(listed))
    problems = [] if PurePosixPath(root).is_absolute() else [f"source_root {root!r} is not an absolute path"]
    bad = [path for path in recorded if not is_url(path) and not is_clean_relative(path)]
    problems += [f"{path!r} is not a path relative to the source root" for path in bad[:5]]
    if len(bad) > 5:
        problems.append(f"and {len(bad) - 5} more")
    local = sum(not is_url(path) for path in recorded)
    report.add(SOURCE_PATHS, not problems, "; ".join(problems) or f"{local} local input paths relative to {root}")


def _count_files(release: Path, manifest: dict) -> dict[str, list[str]]:
    """The parameters the count checks query by: each table's files, in the manifest's order."""
    return {name: table_files(release, manifest, table) for name, table in
            (("docs", "documents"), ("ledger", "ledger"), ("sigs", "signatures"))}  # fmt: skip


def _check_conservation(release: Path, manifest: dict, report: VerifyReport) -> None:
    files = _count_files(release, manifest)
    con = duckdb.connect()
    per_source = con.sql(
        """
        with d as (select file_path, count(*) as kept from read_parquet($docs) group by all),
             l as (select file_path, count(*) as removed from read_parquet($ledger) group by all)
        select coalesce(d.file_path, l.file_path) as file_path, coalesce(kept, 0), coalesce(removed, 0)
        from d full outer join l on d.file_path = l.file_path
        """,
        params={"docs": files["docs"], "ledger": files["ledger"]},
    ).fetchall()
    # what the rows say of their input: the byte check and the ids go by its format and sha256
    sources = dict(con.sql(
        "select file_path, list_sort(list(distinct [source_sha256, source_format])) from "
        "(select file_path, source_sha256, source_format from read_parquet($docs) union all "
        "select file_path, source_sha256, source_format from read_parquet($ledger)) group by all",
        params={"docs": files["docs"], "ledger": files["ledger"]},
    ).fetchall())  # fmt: skip
    found = {path: (kept, removed) for path, kept, removed in per_source}
    problems = []
    for entry in manifest["inputs"]:
        said = sources.get(entry["path"], [[entry["sha256"], entry["format"]]])
        if said != [[entry["sha256"], entry["format"]]]:
            problems.append(f"{entry['path']}: rows say sha256 and format {said[:EXAMPLES]}, manifest says "
                            f"{[entry['sha256'], entry['format']]}")  # fmt: skip
        kept, removed = found.pop(entry["path"], (0, 0))
        if (kept, removed) != (entry["kept"], entry["removed"]):
            problems.append(
                f"{entry['path']}: {kept} kept + {removed} removed in the tables, "
                f"manifest says {entry['kept']} + {entry['removed']}"
            )
        if entry["eligible"] != kept + removed:
            problems.append(f"{entry['path']}: {entry['eligible']} eligible records but {kept + removed} accounted for")
    problems += [f"{path}: rows from an input the manifest does not list" for path in found]
    counts = manifest["counts"]
    kept_sum = sum(e["kept"] for e in manifest["inputs"])
    removed_sum = sum(e["removed"] for e in manifest["inputs"])
    if counts["inputs"] != counts["kept"] + counts["removed"] or (counts["kept"], counts["removed"]) != (
        kept_sum,
        removed_sum,
    ):
        problems.append(f"totals: {counts['inputs']} inputs != {counts['kept']} kept + {counts['removed']} removed")
    report.add(
        CONSERVATION,
        not problems,
        "; ".join(problems) or f"{counts['inputs']} = {counts['kept']} kept + {counts['removed']} removed",
    )


def _ledger_reasons(release: Path, manifest: dict) -> dict[tuple[str, str], int]:
    """The ledger's removals by (stage, reason): what the manifest's figures must repeat."""
    rows = duckdb.connect().sql(
        "select stage, reason, count(*) from read_parquet($ledger) group by all",
        params={"ledger": table_files(release, manifest, "ledger")},
    ).fetchall()
    return {(stage, reason): n for stage, reason, n in rows}


def _check_reasons(release: Path, manifest: dict, report: VerifyReport) -> None:
    table_reasons = _ledger_reasons(release, manifest)
    counts = manifest["counts"]
    manifest_reasons = {(s, r): n for s, rs in counts["removed_by_stage"].items() for r, n in rs.items()}
    problems = [] if table_reasons == manifest_reasons else [f"ledger {table_reasons} vs manifest {manifest_reasons}"]
    if "optout" in manifest:  # the opt-out figures the card and `apertura` print (format 1 has none)
        claimed = manifest["optout"]
        by_signal = {r: n for (s, r), n in table_reasons.items() if s == "optout"}
        if (claimed["removed"], claimed["removed_by_signal"]) != (sum(by_signal.values()), by_signal):
            problems.append(
                f"optout: the manifest says {claimed['removed']} removed {claimed['removed_by_signal']}, "
                f"the ledger {sum(by_signal.values())} {by_signal}"
            )
    report.add(REASONS, not problems, "; ".join(problems))


def _check_figures(release: Path, manifest: dict, report: VerifyReport) -> None:
    policy_files = None
    if "optout" in manifest:  # format 2 on: the policy files the card says were read, and their sites, are the
        # evidence's (a site counts when one of its files was parsed: a 404 tdmrep.json alone is no policy)
        from pipeline.optout.policies import UNPARSED_SQL

        evidence = {"evidence": table_files(release, manifest, "optout_evidence")}
        count = (f"select count(*), count(distinct origin) filter (where not ({UNPARSED_SQL})) "
                 "from read_parquet($evidence) where kind = 'policy_file'")  # fmt: skip
        policy_files = duckdb.connect().sql(count, params=evidence).fetchall()[0]
    report.add(FIGURES, *_figures_add_up(manifest, _ledger_reasons(release, manifest), policy_files))


def _check_ids(release: Path, manifest: dict, report: VerifyReport) -> None:
    files = _count_files(release, manifest)
    dup_ids = duckdb.connect().sql(
        "select id from (select id from read_parquet($docs) union all select id from read_parquet($ledger)) "
        "group by id having count(*) > 1 limit 5",
        params={"docs": files["docs"], "ledger": files["ledger"]},
    ).fetchall()
    report.add(IDS_UNIQUE, not dup_ids, f"repeated: {dup_ids}" if dup_ids else "")


def _check_aligned(release: Path, manifest: dict, report: VerifyReport) -> None:
    """Row n of the signatures is document n's, both read in file order (the manifest's files, each's rows)."""
    files = _count_files(release, manifest)
    misaligned = duckdb.connect().sql(
        """
        select count(*) from
          (select id, row_number() over (order by list_position($docs, filename), file_row_number) as n
           from read_parquet($docs, filename = true, file_row_number = true)) d
          full outer join
          (select id, row_number() over (order by list_position($sigs, filename), file_row_number) as n
           from read_parquet($sigs, filename = true, file_row_number = true)) s
          using (n)
        where d.id is distinct from s.id
        """,
        params={"docs": files["docs"], "sigs": files["sigs"]},
    ).fetchall()[0][0]
    report.add(ALIGNED, misaligned == 0, f"{misaligned} rows differ" if misaligned else "")


def _check_row_hashes(release: Path, manifest: dict, report: VerifyReport) -> None:
    files = _count_files(release, manifest)
    hashes = duckdb.connect().sql(
        "select distinct config_hash from (select config_hash from read_parquet($docs) "
        "union all select config_hash from read_parquet($ledger))",
        params={"docs": files["docs"], "ledger": files["ledger"]},
    ).fetchall()
    foreign = sorted({h for (h,) in hashes} - {manifest["config_hash"]})
    report.add(ROW_HASHES, not foreign, f"other hashes: {foreign}" if foreign else "")


CONSERVATION = "conservation (inputs == kept + removed)"
REASONS = "removal reasons match the ledger"
IDS_UNIQUE = "ids unique across documents and ledger"
ROW_HASHES = "rows carry the manifest's config hash"
FIGURES = "funnel and record counts add up"
ALIGNED = "signatures aligned 1:1 with documents"
COUNT_CHECKS = ((CONSERVATION, _check_conservation), (REASONS, _check_reasons), (FIGURES, _check_figures),
                (IDS_UNIQUE, _check_ids), (ALIGNED, _check_aligned), (ROW_HASHES, _check_row_hashes))  # fmt: skip
DUPLICATE_OF = "every duplicate_of is a kept (or since opted-out) document"
EXACT_TWINS = "every exact duplicate has its twin's normalised text"
# A removal as an exact duplicate names its twin in its detail ("same normalised text as <id>", the dedup step's
# wording since format 1); the twin, kept or removed, must hold the same normalised text, or any record could be
# called a copy of any other.
EXACT_TWINS_SQL = r"""
with exact as (
  select id, norm_sha256, text is not null as kept_text,
         regexp_extract(detail, '^same normalised text as ([^,\s]+)', 1) as twin
  from read_parquet($ledger) where reason = 'dedup_exact'
), texts as (
  select id, norm_sha256, true as has_text from read_parquet($docs)
  union all select id, norm_sha256, text is not null from read_parquet($ledger)
)
select exact.id, coalesce(bool_or(texts.norm_sha256 = exact.norm_sha256), false) as twinned,
       exact.kept_text, coalesce(bool_or(texts.has_text), false) as twin_kept_text
from exact left join texts on texts.id = exact.twin
group by exact.id, exact.kept_text order by exact.id
"""


def _figures_add_up(
    manifest: dict, ledger_reasons: dict[tuple[str, str], int], policy_files: tuple[int, int] | None
) -> tuple[bool, str]:
    """The figures the dataset card and `apertura` print beside the conservation law are that law's: each input's
    eligible records are its records of the eligible types, the totals by record type are the inputs' sums, and the
    funnel starts with every eligible record, loses at each stage what the ledger removed there and ends with the
    kept documents. The opt-out summary names the agents and switch the (hashed) config recorded, and counts the
    policy files the evidence holds and the sites one of them was parsed for. Otherwise a card could show figures
    the tables or the config contradict."""
    from pipeline.derive import DERIVE_STAGE
    from pipeline.release import REGISTRY_STAGE
    from pipeline.sources.base import ELIGIBLE_TYPES

    counts, problems = manifest["counts"], []
    by_type: Counter[str] = Counter()
    for entry in manifest["inputs"]:
        by_type.update(entry["records_by_type"])
        of_eligible_types = sum(n for t, n in entry["records_by_type"].items() if t in ELIGIBLE_TYPES)
        if entry["eligible"] != of_eligible_types:
            problems.append(
                f"{entry['path']}: {entry['eligible']} eligible records, {of_eligible_types} of the eligible types "
                f"({', '.join(sorted(ELIGIBLE_TYPES))}) in its records_by_type"
            )
    if _nonzero(by_type) != _nonzero(counts["records_by_type"]):
        problems.append(f"totals: records_by_type {counts['records_by_type']}, the inputs' sum {_nonzero(by_type)}")
    stages, expected_in = counts["stages"], counts["inputs"]
    funnel: Counter[str] = Counter()
    for stage in stages:
        if (stage["in"], stage["out"]) != (expected_in, expected_in - stage["removed"]):
            problems.append(
                f"funnel: {stage['stage']} takes {stage['in']}, removes {stage['removed']} and passes on "
                f"{stage['out']}, after {expected_in} records"
            )
        expected_in = stage["out"]
        funnel["optout" if stage["stage"] in (REGISTRY_STAGE, DERIVE_STAGE) else stage["stage"]] += stage["removed"]
    if expected_in != counts["kept"]:
        problems.append(f"funnel: ends with {expected_in} records, {counts['kept']} kept")
    ledger: Counter[str] = Counter()
    for (stage, _), n in ledger_reasons.items():
        ledger[stage] += n
    if _nonzero(funnel) != _nonzero(ledger):
        problems.append(f"funnel: removes {_nonzero(funnel)} by stage, the ledger {_nonzero(ledger)}")
    if policy_files is not None:
        said, configured = manifest["optout"], manifest["config"].get("optout", {})
        for key in ("enabled", "agents"):
            if key in configured and said[key] != configured[key]:
                problems.append(f"optout: {key} {said[key]!r}, the config says {configured[key]!r}")
        files, origins = policy_files
        if said["policy_files"] != files:
            problems.append(f"optout: {said['policy_files']} policy files, {files} in the evidence")
        if said["origins"] != origins:
            problems.append(f"optout: policy files of {said['origins']} sites, {origins} in the evidence")
    return not problems, "; ".join(problems) or f"{len(stages)} stages from {counts['inputs']} to {counts['kept']}"


def _keeps_removed_text(manifest: dict) -> bool:
    """Whether the recorded config keeps the text of filtered and duplicate records: a config recorded before the
    field existed kept it (the field's default, which it hashes without)."""
    return manifest["config"].get("ledger_keep_text", RunConfig.model_fields["ledger_keep_text"].default)


def _check_duplicates(release: Path, manifest: dict, report: VerifyReport) -> None:
    """Every removal as a duplicate points at a record the release holds, and an exact duplicate's twin has its
    normalised text: by hashes the text-hash check recomputed where the texts were kept (as the config says they
    are), by the recorded hashes alone, and then not promised, where they were not."""
    con = duckdb.connect()
    params = {"docs": table_files(release, manifest, "documents"), "ledger": table_files(release, manifest, "ledger")}
    # a kept copy may itself be removed later by a retroactive opt-out (release derive): then it is in the ledger
    dangling = con.sql(
        "select count(*) from read_parquet($ledger) where duplicate_of is not null "
        "and duplicate_of not in (select id from read_parquet($docs)) "
        "and duplicate_of not in (select id from read_parquet($ledger) where stage = 'optout')",
        params=params,
    ).fetchall()[0][0]
    report.add(DUPLICATE_OF, dangling == 0, f"{dangling} dangling" * bool(dangling))
    exact = con.sql(EXACT_TWINS_SQL, params=params).fetchall()
    untwinned = [i for i, twinned, _, _ in exact if not twinned]
    # a hash is only as good as the text it recomputes from (text hashes): a duplicate without its text could
    # carry any twin's hash; the config says whether removed records keep theirs
    textless = [i for i, _, kept_text, _ in exact if not kept_text]
    recorded_only = sum(not (kept_text and twin_kept_text) for _, _, kept_text, twin_kept_text in exact)
    problems = [f"{len(untwinned)} of {len(exact)} not, e.g. {untwinned[:EXAMPLES]}"] if untwinned else []
    if textless and _keeps_removed_text(manifest):
        problems.append(f"{len(textless)} keep no text though the config keeps it, e.g. {textless[:EXAMPLES]}")
    if problems:
        report.add(EXACT_TWINS, False, "; ".join(problems))
        return
    detail = f"{len(exact)} exact duplicates, each of its twin's text"
    if recorded_only:  # passed, but on hashes nothing here recomputes: said, and no promise
        detail += f" ({recorded_only} by recorded hashes alone: a text not kept cannot be hashed again)"
    report.add(EXACT_TWINS, True, detail, checked=not recorded_only)


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {key: n for key, n in sorted(counts.items()) if n != 0}


VIOLATIONS_SQL = """
select d.id, d.url, e.signal, e.rule
from read_parquet($docs) d
join read_parquet($evidence) e on e.document_id = d.id
where e.kind = 'document' and e.verdict = 'reserved'
order by d.id
"""


def _optout_files(release: Path, manifest: dict) -> dict[str, list[str]]:
    return {"docs": table_files(release, manifest, "documents"), "ledger": table_files(release, manifest, "ledger"),
            "evidence": table_files(release, manifest, "optout_evidence")}  # fmt: skip


def _check_optout(release: Path, manifest: dict, report: VerifyReport) -> None:
    files = _optout_files(release, manifest)
    violations = duckdb.connect().sql(VIOLATIONS_SQL, params={k: files[k] for k in ("docs", "evidence")}).fetchall()
    report.add(
        HONOURED,
        not violations,
        f"{len(violations)} violations, e.g. {violations[:EXAMPLES]}" if violations else "0 violations",
    )


def _check_explained(release: Path, manifest: dict, report: VerifyReport) -> None:
    files = _optout_files(release, manifest)
    unexplained = duckdb.connect().sql(
        "select count(*) from read_parquet($ledger) l where l.stage = 'optout' and not exists "
        "(select 1 from read_parquet($evidence) e where e.document_id = l.id and e.verdict = 'reserved')",
        params={k: files[k] for k in ("ledger", "evidence")},
    ).fetchall()[0][0]
    report.add(EXPLAINED, unexplained == 0, f"{unexplained} without" if unexplained else "")


def _check_orphans(release: Path, manifest: dict, report: VerifyReport) -> None:
    orphans = duckdb.connect().sql(
        "select count(*) from read_parquet($evidence) e where e.kind = 'document' and e.document_id not in "
        "(select id from read_parquet($docs) union all select id from read_parquet($ledger))",
        params=_optout_files(release, manifest),
    ).fetchall()[0][0]
    report.add(ORPHANS, orphans == 0, f"{orphans} orphans" if orphans else "")


HONOURED = "opt-outs honoured (no kept document is reserved)"
EXPLAINED = "every opt-out removal has its evidence"
ORPHANS = "evidence rows are about records in the release"
ATTRIBUTED = "opt-out removals carry their evidence's reason"
MISATTRIBUTED_SQL = """
with reasons as (select unnest($signals) as signal, unnest($reasons) as reason),
reserved as (
    select e.document_id as id, r.reason from read_parquet($evidence) e join reasons r using (signal)
    where e.kind = 'document' and e.verdict = 'reserved'
)
select l.id, l.stage, l.reason from read_parquet($ledger) l
where l.id in (select id from reserved)
  and (l.stage <> 'optout' or not exists (select 1 from reserved x where x.id = l.id and x.reason = l.reason))
order by l.id
"""


def _check_attributed(release: Path, manifest: dict, report: VerifyReport) -> None:
    """A removed record that a signal reserved was removed by the opt-out stage, for one of the signals that reserved
    it: relabelled as a quality removal, or credited to another signal, the opt-out figures would be false."""
    from pipeline.optout.families import reason_for

    con, files = duckdb.connect(), _optout_files(release, manifest)
    evidence = {"evidence": files["evidence"]}
    reserving = "select distinct signal from read_parquet($evidence) where kind = 'document' and verdict = 'reserved'"
    signals = [s for (s,) in con.sql(reserving, params=evidence).fetchall() if s is not None]
    reasons = [reason_for(s) for s in signals]
    wrong = con.sql(
        MISATTRIBUTED_SQL, params={**evidence, "ledger": files["ledger"], "signals": signals, "reasons": reasons}
    ).fetchall()
    report.add(ATTRIBUTED, not wrong, f"{len(wrong)} removals, e.g. {wrong[:EXAMPLES]}" if wrong else "")


OPTOUT_CHECKS = ((HONOURED, _check_optout), (EXPLAINED, _check_explained), (ATTRIBUTED, _check_attributed),
                 (ORPHANS, _check_orphans))  # fmt: skip


def _check_url_identity(release: Path, manifest: dict, report: VerifyReport) -> None:
    """Format 3: every `url_key` and `domain` is what the URL identity computes from `url`, so lookups and
    opt-outs that go by them see every record. Only with the rules the release was built with."""
    import polars as pl

    from pipeline.url_identity import domain_expr, identity_spec, url_key_expr

    name = "URL identities recompute (url_key, domain)"
    built_with = manifest.get("software", {}).get("url_identity")
    if built_with != identity_spec():
        report.add(name, False, f"built with URL identity {built_with!r}; this apertura has {identity_spec()!r}")
        return
    wrong, examples = 0, []
    for table in ("documents", "ledger"):
        for path in table_files(release, manifest, table):
            frame = pl.read_parquet(path, columns=["id", "url", "url_key", "domain"])
            redone = frame.select("id", url_key_expr(pl.col("url")).alias("k"), domain_expr(pl.col("url")).alias("d"))
            bad = frame.filter(
                pl.col("url_key").ne_missing(redone["k"]) | pl.col("domain").ne_missing(redone["d"])
            )
            wrong += bad.height
            examples += bad["id"].head(EXAMPLES).to_list()
    report.add(name, wrong == 0, f"{wrong} rows differ, e.g. {examples[:EXAMPLES]}" if wrong else "")


TEXT_HASHES = "text hashes recompute (text_sha256, norm_sha256)"
TEXT_BATCH_ROWS = 4_096  # texts hashed at a time: memory stays a few batches of text, whatever the release


def _check_text_hashes(release: Path, manifest: dict, report: VerifyReport) -> None:
    """Format 3: every text a release holds (its documents' and the ledger's kept ones) hashes to its `text_sha256`
    and, normalised, to its `norm_sha256`. Dedup, the texts commitment and the membership index go by these hashes:
    a text kept under another text's hashes would be answered "not in" while it is. Only with the normalisation
    the release was built with (the manifest's signature spec)."""
    import json

    import polars as pl

    from pipeline.fingerprints import SIGNATURE_SPEC, normalise
    from pipeline.provenance import sha256_hex

    try:
        built_with = json.loads(manifest["software"]["minhash"])["normalisation"]
    except (KeyError, TypeError, ValueError):
        built_with = None
    if built_with != (ours := SIGNATURE_SPEC["normalisation"]):
        report.add(TEXT_HASHES, False, f"built with normalisation {built_with!r}; this apertura's is {ours!r}")
        return
    wrong, checked, examples = 0, 0, []
    for table in ("documents", "ledger"):
        for path in table_files(release, manifest, table):
            columns = ["id", "text", "text_sha256", "norm_sha256"]
            for batch in pq.ParquetFile(path).iter_batches(TEXT_BATCH_ROWS, columns=columns):
                frame = pl.from_arrow(batch).filter(pl.col("text").is_not_null())
                redone = (sha256_hex(frame["text"]), sha256_hex(normalise(frame["text"])))
                bad = frame.filter(
                    pl.col("text_sha256").ne_missing(redone[0]) | pl.col("norm_sha256").ne_missing(redone[1])
                )
                wrong, checked = wrong + bad.height, checked + frame.height
                examples += bad["id"].head(EXAMPLES).to_list()
    report.add(TEXT_HASHES, wrong == 0,
               f"{wrong} of {checked} texts differ from their hashes, e.g. {examples[:EXAMPLES]}" if wrong else
               f"{checked} texts match")  # fmt: skip


SIGNATURES = "signatures recompute from the documents' texts (MinHash)"
SIGNATURE_BATCH_ROWS = 4_096  # documents signed again at a time, beside their stored signatures


def _signing(manifest: dict, report: VerifyReport, name: str) -> DedupConfig | None:
    """The dedup settings of the (hashed) config to sign texts with, or None with finding `name` added: not made if
    the config does not load (the config hash check's failure), failed if the spec the release records is not the
    one this apertura signs with for those settings."""
    import json

    from pipeline.fingerprints.spec import signature_spec

    try:
        dedup = RunConfig.model_validate(manifest["config"]).dedup
    except ValueError:
        report.add(name, True, "not made: the config does not load (see 'config hash')", checked=False)
        return None
    try:
        built_with = json.loads(manifest["software"]["minhash"])
    except (KeyError, TypeError, ValueError):
        built_with = {}
    ours = signature_spec(dedup)
    if differ := sorted(k for k in ours.keys() | built_with.keys() if built_with.get(k) != ours.get(k)):
        report.add(name, False, f"built with another signature spec than this apertura's (its {', '.join(differ)})")
        return None
    return dedup


def _check_signatures(release: Path, manifest: dict, report: VerifyReport) -> None:
    """Format 3: every document's stored MinHash signature is the one its text gives with the dedup settings of the
    (hashed) config. Near-duplicate removal and the membership index's near answers go by these: a signature made
    of another text would answer a near copy of this one "not in". Only with the signature spec the release was
    built with. Row by row beside the documents; rows that do not line up are the alignment check's finding, and this
    check then makes no promise."""
    from itertools import zip_longest

    import polars as pl

    from pipeline.fingerprints import add_dedup_keys
    from pipeline.release_read import even_batches

    if (dedup := _signing(manifest, report, SIGNATURES)) is None:
        return
    wrong, checked, examples = 0, 0, []
    docs = even_batches(table_files(release, manifest, "documents"), ["id", "text"], SIGNATURE_BATCH_ROWS)
    sigs = even_batches(table_files(release, manifest, "signatures"), ["id", "minhash"], SIGNATURE_BATCH_ROWS)
    for texts, stored in zip_longest(docs, sigs):
        if texts is None or stored is None or texts["id"] != stored["id"]:  # no promise about rows that do not pair
            lined_up = f"not made: the signatures do not line up with the documents (see '{ALIGNED}')"
            report.add(SIGNATURES, True, lined_up, checked=False)
            return
        frame = pl.from_arrow(texts)
        redone = add_dedup_keys(frame.select("text"), dedup)["minhash"]
        bad = frame.filter(redone.ne_missing(pl.from_arrow(stored["minhash"])))
        wrong, checked = wrong + bad.height, checked + frame.height
        examples += bad["id"].head(EXAMPLES).to_list()
    report.add(SIGNATURES, wrong == 0,
               f"{wrong} of {checked} documents' signatures differ from their texts', e.g. {examples[:EXAMPLES]}"
               if wrong else f"{checked} signatures match")  # fmt: skip


NEAR = "every near duplicate's Jaccard estimate recomputes with its keeper"
# a near duplicate's detail says "estimated jaccard 0.83 with <keeper id>": its text (when kept) signed again
# beside the keeper's stored signature (when it is a document's: checked above)
NEAR_SQL = r"""
select l.id, l.text, l.duplicate_of,
       regexp_extract(l.detail, '^estimated jaccard ([0-9]+\.[0-9]{2}) with (\S+)$', ['estimate', 'keeper']) as said,
       s.minhash as keeper_signature
from read_parquet($ledger) l left join read_parquet($sigs) s on s.id = l.duplicate_of
where l.reason = 'dedup_near'
order by l.id
"""


def _check_near_estimates(release: Path, manifest: dict, report: VerifyReport) -> None:
    """Format 3: a removal as a near duplicate names its keeper and their estimated Jaccard similarity. Clusters
    link through chains, so the estimate may be low; it must be the one their signatures give, or "a near copy
    of X" is a label nobody can check. Where the removal kept no text, or its keeper is no longer a document,
    the estimate rests on the recorded detail alone: said, and not promised."""
    import numpy as np
    import polars as pl

    from pipeline.fingerprints import add_dedup_keys, signature_matrix

    if (dedup := _signing(manifest, report, NEAR)) is None:
        return
    params = {"ledger": table_files(release, manifest, "ledger"), "sigs": table_files(release, manifest, "signatures")}
    near = duckdb.connect().sql(NEAR_SQL, params=params).pl()
    said = near["said"].struct.unnest()
    misnamed = near.filter(said["keeper"].ne_missing(near["duplicate_of"]))["id"]  # a detail of another form too
    both = near.filter(pl.col("text").is_not_null() & pl.col("keeper_signature").is_not_null()
                       & ~pl.col("id").is_in(misnamed.implode()))  # fmt: skip
    off = []
    if both.height:
        own = signature_matrix(add_dedup_keys(both.select("text"), dedup)["minhash"], dedup)
        agreement = (own == signature_matrix(both["keeper_signature"], dedup)).mean(axis=1)
        estimate = both["said"].struct.field("estimate").cast(pl.Float64).to_numpy()
        off = both.filter(pl.Series(np.abs(agreement - estimate) > 0.005 + 1e-9))["id"].to_list()
    wrong = sorted([*misnamed, *off])
    problems = [f"{len(wrong)} of {near.height} not, e.g. {wrong[:EXAMPLES]}"] if wrong else []
    textless = near.filter(pl.col("text").is_null())["id"].to_list()
    if textless and _keeps_removed_text(manifest):
        problems.append(f"{len(textless)} keep no text though the config keeps it, e.g. {textless[:EXAMPLES]}")
    if problems:
        report.add(NEAR, False, "; ".join(problems))
        return
    unchecked = near.height - both.height
    detail = f"{near.height} near duplicates, each as similar to its keeper as it says"
    if unchecked:
        detail += f" ({unchecked} by their recorded detail alone: a text not kept cannot be signed again)"
    report.add(NEAR, True, detail, checked=not unchecked)


def registry_matches(release: Path, manifest: dict, registry: Registry, at: str | None) -> pl.DataFrame:
    """(id, entry_id, kind, rule) for every document of `release` a registry entry in force at `at` covers: what
    `derive` removes, and what `verify` requires to be empty for a release that applied the registry."""
    from pipeline.optout.registry import match

    con = duckdb.connect()
    frame = con.sql(
        "select d.id, d.url, d.domain, d.norm_sha256, s.minhash from read_parquet($docs) d "
        "join read_parquet($sigs) s using (id)",
        params={
            "docs": table_files(release, manifest, "documents"),
            "sigs": table_files(release, manifest, "signatures"),
        },
    ).pl()
    return match(frame, registry.effective(at))


CITED_ENTRIES_SQL = """
select distinct source_id from read_parquet($evidence)
where kind = 'document' and signal = 'registry' and verdict = 'reserved' order by source_id
"""


def _registry_state(release: Path, manifest: dict, registry: Registry, recorded: dict) -> tuple[bool, str]:
    """The registry recorded (its hash and entry count at the recorded `as_of`) is this registry's, and every entry
    the release's removals cite was in force when they were made: an `as_of` moved back to before the entries (with
    that earlier state's hash) would otherwise hide them from the match below."""
    from pipeline.optout.registry import RegistryError, parse_instant

    # a removal was made when the release, or the one it was derived from, applied the registry: the latest of
    # those instants (a child derived with an earlier `--at` keeps its parent's removals)
    lineage = manifest.get("lineage") or {}
    applied = {"lineage.registry.as_of": (lineage.get("registry") or {}).get("as_of"),
               "lineage.derived_at": lineage.get("derived_at"),
               "optout.registry.as_of": (manifest["optout"].get("registry") or {}).get("as_of")}  # fmt: skip
    try:
        instants = {value: parse_instant(value, f"the manifest's {name}") for name, value in applied.items() if value}
    except RegistryError as err:  # the manifest's fault, not the registry's: this check fails naming the instant
        return False, str(err)
    state, problems = registry.state(recorded["as_of"]), []
    if state["sha256"] != recorded["sha256"]:
        problems.append(f"{registry.path} at {recorded['as_of']} hashes to {state['sha256']}")
    if state["entries"] != recorded["entries"]:
        problems.append(f"{state['entries']} entries at {recorded['as_of']}, the release says {recorded['entries']}")
    latest = max(instants, key=instants.__getitem__)
    in_force = {e.entry_id for e in registry.effective(latest)}
    evidence = {"evidence": table_files(release, manifest, "optout_evidence")}
    cited = [entry for (entry,) in duckdb.connect().sql(CITED_ENTRIES_SQL, params=evidence).fetchall()]
    if late := [entry for entry in cited if entry not in in_force]:
        more = f" and {len(late) - 5} more" if len(late) > 5 else ""
        problems.append(f"removals cite entries not in force at {latest}: {late[:5]}{more}")
    return not problems, "; ".join(problems)


def _check_registry(release: Path, manifest: dict, report: VerifyReport, registry_path: Path | None) -> None:
    """With a registry: its recorded state recomputes from the registry files (no entry was edited or
    dropped), and no document matches an opt-out in force when the release was built or derived (or now,
    for a release that never applied the registry)."""
    from pipeline.optout.registry import Registry, RegistryError

    lineage = manifest.get("lineage") or {}
    recorded = lineage.get("registry") or manifest["optout"].get("registry")
    path = registry_path or (Path(recorded["path"]) if recorded else None)
    if path is None:  # said, so that "release verifies" is not read as "every opt-out of the registry honoured"
        report.add("registry opt-outs honoured", True, "not checked: the release applied no registry and none was "
                   "given (--registry checks one)", checked=False)  # fmt: skip
        return
    if not path.is_dir():  # an empty registry would "match 0 entries": a reassurance about a registry nobody read
        where = "" if registry_path else " (the path the release recorded)"
        report.add("registry opt-outs honoured", False,
                   f"no registry at {path}{where}: pass --registry with a copy of it to check it")  # fmt: skip
        return
    registry = Registry(path)
    at = lineage.get("derived_at") or (recorded["as_of"] if recorded else None)
    try:
        if recorded:
            state = _registry_state(release, manifest, registry, recorded)
            report.add("registry state matches the one applied", *state)
        hits = registry_matches(release, manifest, registry, at)
    except (RegistryError, OSError) as err:
        report.add("registry opt-outs honoured", False, f"cannot read the registry {path}: {err}")
        return
    shown = hits.head(EXAMPLES).select("id", "rule").rows()
    when = f"in force at {at}" if at else "in force now"
    report.add(
        "registry opt-outs honoured (no document matches an entry)",
        hits.is_empty(),
        f"0 documents match the {len(registry.effective(at))} entries {when}"
        if hits.is_empty()
        else f"{hits.height} documents match entries {when}, e.g. {shown}",
    )


def verify_release(release: Path | str, registry: Path | None = None, *, pubkey: Path | None = None) -> VerifyReport:
    """Verify a release directory, or a remote one (`s3://bucket/prefix`, any pyarrow filesystem URI): every object
    of a remote release is downloaded afresh into a temporary directory and verified there, nothing reused from a
    cache, so the verdict is about the bytes the store holds now (`report.fetched` says from where)."""
    from pipeline.release_read import remote

    if not remote.is_remote(str(release)):
        return _verify_directory(Path(release), registry, pubkey)
    uri = str(release)
    try:
        with remote.fetch_fresh(uri) as fetched:
            report = _verify_directory(fetched.local, registry, pubkey, fetched)
    except ReleaseError as err:  # unreachable, no bucket, no credentials, no manifest: nothing was verified
        report = VerifyReport(uri)
        report.add("manifest", False, f"cannot fetch the release: {err}")
        return report
    report.release, report.fetched = uri, fetched.describe()
    for check in report.checks:  # the temporary copy is gone: name the release as the user gave it
        check.detail = check.detail.replace(str(fetched.local), uri)
    return report


def _verify_directory(
    release: Path, registry: Path | None, pubkey: Path | None, fetched: Fetched | None = None
) -> VerifyReport:
    report = VerifyReport(str(release))
    try:
        manifest = load_manifest(release)
    except ReleaseError as err:
        report.add("manifest", False, str(err))
        return report
    version = manifest.get("format_version", schemas.FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version not in schemas.TABLES_BY_FORMAT:
        report.add("manifest", False, f"manifest.json has format_version {version!r}: not a format this apertura reads")
        return report
    try:
        schemas.validate_manifest(manifest, version)
    except jsonschema.ValidationError as err:  # every format this apertura reads has its schema (checked above)
        where = "" if err.json_path == "$" else f" at {err.json_path}"  # e.g. $.files[0]
        report.add("manifest", False, f"manifest.json does not match its schema{where}: {err.message}")
        return report
    report.add("manifest", True, f"format {manifest['format_version']}, release {manifest['release_id']}")
    try:
        RunConfig.model_validate(manifest["config"])  # it must still be a config this apertura can read
        recomputed = config_hash(manifest["config"])
        report.add(
            "config hash",
            recomputed == manifest["config_hash"],
            "" if recomputed == manifest["config_hash"] else f"config hashes to {recomputed}",
        )
    except ValueError as err:
        report.add("config hash", False, f"config does not load: {err}")
    if not _check_files(release, manifest, report, fetched):
        return report  # tables that fail their hashes are not worth querying
    try:
        _check_schemas(release, manifest, report)  # the checks below run anyway: one that cannot is a finding
        version, args = manifest["format_version"], (release, manifest, report)
        for name, check in COUNT_CHECKS:  # each under its own name: one that cannot run leaves the others'
            _guarded(report, name, check, *args)
        _guarded(report, DUPLICATE_OF, _check_duplicates, *args)
        if version >= 3:
            _guarded(report, "URL identities recompute (url_key, domain)", _check_url_identity, *args)
            _guarded(report, TEXT_HASHES, _check_text_hashes, *args)
            _guarded(report, SIGNATURES, _check_signatures, *args)
            _guarded(report, NEAR, _check_near_estimates, *args)
        if version >= schemas.COMMITMENTS_FROM:
            _guarded(report, "conservation in bytes (record spans + unreadable spans = the file)", _check_bytes, *args)
        if version >= schemas.SOURCE_ROOT_FROM:
            _guarded(report, SOURCE_PATHS, _check_source_paths, *args)
        if version >= schemas.DESCRIPTIONS_FROM:
            _guarded(report, DESCRIBED, _check_descriptions, *args)
        if "optout_evidence" in schemas.TABLES_BY_FORMAT[version]:
            for name, check in OPTOUT_CHECKS:
                _guarded(report, name, check, *args)
            _guarded(report, "registry opt-outs honoured", _check_registry, *args, registry)
    except ReleaseError as err:  # e.g. a listed part file that resolves outside the release
        report.add("tables readable inside the release", False, str(err))
        return report
    from pipeline.index.verify import ENTRIES_AGREE
    from pipeline.proofs.commitments import check_commitments
    from pipeline.proofs.signing import ENVELOPE, SIGNATURE_CHECK, check_release_signature

    # what passes with nothing to check it against: an unsigned release's signature when no key is given, the
    # index entries of a format 1-2 release (its tables hold no URL identity)
    unchecked = {SIGNATURE_CHECK} if pubkey is None and not (release / ENVELOPE).is_file() else set()
    if manifest["format_version"] < 3:
        unchecked.add(ENTRIES_AGREE)

    def add_all(checks) -> None:
        for name, ok, detail, *made in checks():  # a fourth value False: not made (said in the detail)
            report.add(name, ok, detail, checked=all(made) and not (ok and name in unchecked))

    if manifest["format_version"] >= schemas.COMMITMENTS_FROM:
        manifest_sha256 = file_sha256(release / "manifest.json")
        _guarded(report, "commitments rebuild from the tables", add_all,
                 lambda: check_commitments(release, manifest, manifest_sha256))  # fmt: skip
    _guarded(report, "release signature", add_all, lambda: check_release_signature(release, pubkey))
    from pipeline.index import verify_index

    try:
        add_all(lambda: verify_index(release))
    except Exception as err:  # an index that cannot even be read is a finding too
        report.add("index", False, f"could not be checked: {_first_line(err)}")
    return report
