"""Croissant (MLCommons, format 1.0) JSON-LD for a release, so dataset tools can load and cite it.

Each table's Parquet parts are `cr:FileObject`s carrying the manifest's sha256 (the integrity chain:
manifest -> file hashes), grouped per table in a `cr:FileSet` that lists exactly those parts, and each
table is a `cr:RecordSet` whose fields come from `schemas/<table>.v<N>.json`, so column meanings stay
single-sourced. Responsible-AI properties (`rai:`) carry the collection period, the processing steps
and the opt-out/PII handling.

A release holds its own copy (`croissant.json`, written with the tables and listed in the manifest): its
`contentUrl`s are relative to the release, so it loads in place wherever the release is moved. A copy written
elsewhere (`apertura report croissant --out`) references the files by absolute path, or under `base_url` (where
the release is published), and reads a one-part table from its FileObject, so that it loads from anywhere.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import schemas
from pipeline.release_read import MANIFEST, load_manifest
from pipeline.reports.eu_summary import EUSummary, SummaryOptions, build_summary

CROISSANT_1_0 = "http://mlcommons.org/croissant/1.0"
PARQUET = "application/x-parquet"

# The standard Croissant 1.0 @context (as mlcroissant writes it; a shorter one triggers warnings).
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

# schemas/*.json column types -> Croissant data types (lists become repeated fields).
DATA_TYPES: dict[str, str] = {
    "string": "sc:Text",
    "int16": "sc:Integer",
    "int32": "sc:Integer",
    "int64": "sc:Integer",
    "float32": "sc:Float",
    "float64": "sc:Float",
    "bool": "sc:Boolean",
}
KEYS = {"documents": "id", "ledger": "id", "signatures": "id"}


def data_type(column_type: str) -> tuple[str, bool]:
    """(Croissant data type, repeated) for a schemas/ column type such as 'list<uint32>'."""
    if column_type.startswith("list<") and column_type.endswith(">"):
        inner = column_type[5:-1]
        return ("sc:Integer" if inner.startswith(("int", "uint")) else DATA_TYPES[inner]), True
    return DATA_TYPES[column_type], False


def _url(base_url: str | None, path: str) -> str:
    return (base_url.rstrip("/") + "/" + path) if base_url else path


def _locator(release: Path, base_url: str | None, in_release: bool):
    """How a file of the release is referenced: relative to the release for the copy inside it (mlcroissant resolves
    relative references against the JSON-LD file's folder), under `base_url` when given, else by its absolute path
    (mlcroissant 1.1.1 reads a local `contentUrl` as a path and does not understand `file://`)."""
    if in_release or base_url:
        return lambda path: _url(base_url, path)
    root = Path(release).resolve()
    return lambda path: str(root / path)


def _manifest_object(release: Path, base_url: str | None, relative: bool) -> dict:
    manifest_bytes = (release / MANIFEST).read_bytes()
    return {
        "@type": "cr:FileObject",
        "@id": MANIFEST,
        "name": MANIFEST,
        "description": "Release manifest: inputs with sha256, counts per stage and reason, run configuration "
        "and its hash, software versions, and the sha256 of every Parquet file below.",
        "contentUrl": _locator(release, base_url, relative)(MANIFEST),
        "contentSize": f"{len(manifest_bytes)} B",
        "encodingFormat": "application/json",
        "sha256": hashlib.sha256(manifest_bytes).hexdigest(),
    }


def _distribution(
    release: Path, manifest: dict, base_url: str | None, in_release: bool, relative: bool = False
) -> list[dict]:
    """FileObjects per Parquet part and a FileSet per table. A copy for outside the release (`in_release` off) also
    lists the manifest; the one inside it cannot (the manifest lists it, with its sha256)."""
    dist: list[dict] = [] if in_release else [_manifest_object(release, base_url, relative)]
    locate = _locator(release, base_url, in_release or relative)
    tables = [t for t in schemas.TABLES if any(f["table"] == t for f in manifest["files"])]
    for table in tables:
        parts = [f for f in manifest["files"] if f["table"] == table]
        dist += [
            {
                "@type": "cr:FileObject",
                "@id": f["path"],
                "name": f["path"],
                "description": f"{table} part with {f['rows']:,} rows (schema {table}.v{f['schema_version']}).",
                "contentUrl": locate(f["path"]),
                "contentSize": f"{f['bytes']} B",
                "encodingFormat": PARQUET,
                "sha256": f["sha256"],
            }
            for f in parts
        ]
        dist.append(
            {
                "@type": "cr:FileSet",
                "@id": f"{table}-parquet",
                "name": f"{table}-parquet",
                "description": f"The {len(parts)} Parquet part(s) of the {table} table, as the manifest lists them.",
                "encodingFormat": PARQUET,
                "includes": [f["path"] for f in parts],
            }
        )
    return dist


def _record_set(table: str, version: int, source: dict) -> dict:
    """A table's record set, its fields read from `source` (the table's FileSet, or its one FileObject)."""
    spec = schemas.table_spec(table, version)
    fields = []
    for column in spec["columns"]:
        dtype, repeated = data_type(column["type"])
        field: dict[str, Any] = {
            "@type": "cr:Field",
            "@id": f"{table}/{column['name']}",
            "name": column["name"],
            "description": column["description"] + ("" if column["nullable"] else " (never null)"),
            "dataType": dtype,
            "source": {**source, "extract": {"column": column["name"]}},
        }
        if repeated:
            field["repeated"] = True
        fields.append(field)
    record_set: dict[str, Any] = {
        "@type": "cr:RecordSet",
        "@id": table,
        "name": table,
        "description": spec["description"],
        "field": fields,
    }
    if table in KEYS:
        record_set["key"] = {"@id": f"{table}/{KEYS[table]}"}
    return record_set


def build_croissant(
    release: Path,
    *,
    summary: EUSummary | None = None,
    name: str | None = None,
    license: str | None = None,
    creator: str | None = None,
    url: str | None = None,
    base_url: str | None = None,
    version: str = "1.0.0",
    date_published: str | None = None,
    manifest: dict | None = None,
    relative: bool = False,
) -> dict[str, Any]:
    """The Croissant 1.0 JSON-LD dict for `release` (counts and languages from `summary`, computed if absent).

    With `manifest` (the one being written for the tables in `release`), the copy the release holds: its file
    references are relative to the release, and it names no release id, manifest hash or date, so that it is the
    same for the same tables wherever and whenever they are written (it cites the commitments' Merkle roots).
    `relative`: file references relative to the release without being its own copy (a bundle published beside the
    release); otherwise a copy outside the release references files by absolute path or under `base_url`."""
    release = Path(release)
    in_release = manifest is not None
    manifest = load_manifest(release, complete=True) if manifest is None else manifest
    s = summary or build_summary(release, SummaryOptions(last_update=date_published), manifest=manifest)
    g, t = s.general, s.general.totals
    stages = ", ".join(f"{x.stage} (-{x.removed:,})" for x in s.removal.stages)
    versions = {f["table"]: f["schema_version"] for f in manifest["files"]}
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CROISSANT_1_0,
        "name": name or (_dump_name(manifest) if in_release
                         else f"apertura-{manifest['release_id']}"),
        "description": (
            "Apertura training-data release"
            + ("" if in_release else f" {manifest['release_id']!r}") + f": {t.documents:,} text documents "
            f"({t.words:,} words, {t.text_bytes:,} bytes of UTF-8 text) extracted from "
            f"{len(manifest['inputs']):,} input files, every document with its provenance down to the WARC record, "
            f"and a ledger of every removed record with its reason. Configuration {manifest['config_hash']}."
        ),
        "license": license or ("unknown: the release records no licence for its web texts (see README.md)"
                               if in_release else "[not recorded in the release: give --license]"),
        "url": url or base_url or (f"urn:apertura:tables:{_tables_digest(manifest)}" if in_release
                                   else f"urn:apertura:release:{manifest['release_id']}"),
        "version": version,
        "datePublished": date_published or datetime.now(UTC).date().isoformat(),
        "creator": {"@type": "sc:Organization", "name": creator or "[not recorded in the release: give --creator]"},
        "citeAs": f"Apertura release {_content_id(manifest)}"
        if in_release
        else f"Apertura release {manifest['release_id']}, manifest sha256 {g.manifest_sha256}",
        "keywords": ["training data", "web crawl", "provenance", "opt-out", "EU AI Act"],
        "inLanguage": [x.name for x in g.languages],
        "isAccessibleForFree": True,
        "rai:dataCollection": (
            "Web pages from the inputs listed in manifest.json (crawled WARC files and other web archives or "
            "datasets); site policy files (robots.txt, tdmrep.json, ai.txt) are kept as opt-out evidence."
        ),
        "rai:dataCollectionType": ["Web Scraping"]
        + (["Secondary Data Analysis"] if any(x.used for x in s.sources if x.category != "crawled") else []),
        "rai:dataPreprocessingProtocol": [f"Stages in order: {stages}.", *s.removal.filters],
        "rai:dataManipulationProtocol": (
            f"Opt-outs honoured for {', '.join(s.tdm.agents)}: {s.tdm.removed:,} records removed; "
            f"kept documents with a reservation: {s.tdm.violations}."
        ),
        "rai:personalSensitiveInformation": (
            f"E-mail addresses ({s.removal.pii.emails:,}), public IP addresses ({s.removal.pii.ip_addresses:,}) "
            f"and IBANs ({s.removal.pii.ibans:,}) were replaced by placeholders; other personal data may remain."
        ),
        "distribution": _distribution(release, manifest, base_url, in_release, relative),
        "recordSet": [
            _record_set(table, versions[table], _source(manifest, table, in_release or relative))
            for table in schemas.TABLES
            if table in versions
        ],
    }
    if in_release and not date_published:
        del doc["datePublished"]  # no clock in a release: the same tables give the same bytes
    if t.first_date and t.last_date:
        doc["rai:dataCollectionTimeframe"] = [t.first_date, t.last_date]
    return doc


def _source(manifest: dict, table: str, in_release: bool) -> dict:
    """Where a table's fields come from. mlcroissant 1.1.1 reads a FileSet only from files under the JSON-LD file's
    own folder, so a copy outside the release reads a table of one part from that part's FileObject (which it
    finds by its absolute path or URL); a table of several parts can only be read from inside the release."""
    parts = [f["path"] for f in manifest["files"] if f["table"] == table]
    if not in_release and len(parts) == 1:
        return {"fileObject": {"@id": parts[0]}}
    return {"fileSet": {"@id": f"{table}-parquet"}}


def multipart_tables(manifest: dict) -> list[str]:
    """Tables of several parts: a Croissant copy outside the release cannot make mlcroissant read them."""
    parts = Counter(f["table"] for f in manifest["files"])
    return sorted(table for table, n in parts.items() if n > 1)


def _content_id(manifest: dict) -> str:
    """What identifies a release by its content: the commitments' Merkle roots (format 4 on), else its tables."""
    trees = (manifest.get("commitments") or {}).get("trees") or {}
    if trees:
        return "commitments " + ", ".join(f"{name} root {tree['root']}" for name, tree in sorted(trees.items()))
    return f"tables sha256 {_tables_digest(manifest)}"


def _tables_digest(manifest: dict) -> str:
    return hashlib.sha256("".join(sorted(f["sha256"] for f in manifest["files"])).encode()).hexdigest()


def _dump_name(manifest: dict) -> str:
    dump = str(manifest["config"].get("dump") or "release")
    return dump if dump.startswith("apertura") else f"apertura-{dump}"
