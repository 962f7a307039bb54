"""The release format: versioned table and manifest schemas shared by the pipeline, the app and `verify`.

The JSON files beside this module are the contract; this module only loads them. Bump the version
(new `<table>.v<N>.json`) when a column changes meaning or type.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import pyarrow as pa

FORMAT_VERSION = 6
TABLES: dict[str, int] = {"documents": 3, "ledger": 2, "signatures": 1, "optout_evidence": 1}
# Which tables a release of each format version holds (format 2 added the opt-out evidence; format 3 the URL
# identity columns of documents and ledger v2; format 4 the same tables, with byte conservation (the manifest's
# `bytes_by_type` per input and ledger rows for unreadable spans) and the manifest's commitments; format 5 documents v3
# (`token_count`, `upstream_*`) and the manifest's `descriptions`: the dataset card and Croissant inside the release;
# format 6 the same tables, with the manifest's `source_root`: local inputs recorded relative to it).
# The schema version of each table in a release of each format.
TABLE_VERSIONS: dict[int, dict[str, int]] = {
    1: {"documents": 1, "ledger": 1, "signatures": 1},
    2: {"documents": 1, "ledger": 1, "signatures": 1, "optout_evidence": 1},
    3: {"documents": 2, "ledger": 2, "signatures": 1, "optout_evidence": 1},
    4: {"documents": 2, "ledger": 2, "signatures": 1, "optout_evidence": 1},
    5: TABLES,
    6: TABLES,
}
# Format 5: files beside the tables that describe the release to dataset tools (path -> kind in the manifest).
DESCRIPTIONS: dict[str, str] = {"README.md": "dataset_card", "croissant.json": "croissant"}
COMMITMENTS_FROM = 4  # the manifest's Merkle roots (pipeline/proofs/), and each input's `bytes_by_type`
DESCRIPTIONS_FROM = 5
SOURCE_ROOT_FROM = 6  # the manifest records `source_root` (null: input paths as typed)
TABLES_BY_FORMAT: dict[int, tuple[str, ...]] = {version: tuple(t) for version, t in TABLE_VERSIONS.items()}

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "list<uint32>": pa.list_(pa.uint32()),
    "list<string>": pa.list_(pa.string()),
}


def _read(name: str) -> dict[str, Any]:
    return json.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))


@cache
def table_spec(table: str, version: int | None = None) -> dict[str, Any]:
    """The JSON description of one table: columns with type, nullability and meaning."""
    return _read(f"{table}.v{TABLES[table] if version is None else version}.json")  # 0 is no version: refused


@cache
def arrow_schema(table: str, version: int | None = None) -> pa.Schema:
    spec = table_spec(table, version)
    return pa.schema(
        [pa.field(c["name"], _ARROW_TYPES[c["type"]], nullable=c["nullable"]) for c in spec["columns"]],
        metadata={"apertura.table": table, "apertura.schema_version": str(spec["version"])},
    )


def column_names(table: str) -> list[str]:
    return [c["name"] for c in table_spec(table)["columns"]]


@cache
def manifest_schema(version: int = FORMAT_VERSION) -> dict[str, Any]:
    return _read(f"manifest.v{version}.json")


@cache
def _manifest_validator(version: int) -> Any:
    import jsonschema

    schema = manifest_schema(version)
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return validator(schema)


def validate_manifest(manifest: Any, version: int = FORMAT_VERSION) -> None:
    """`jsonschema.validate(manifest, manifest_schema(version))` (the same error: the best match), with the schema
    itself checked once: checking it at every call was a quarter of verifying a small release."""
    import jsonschema

    if (error := jsonschema.exceptions.best_match(_manifest_validator(version).iter_errors(manifest))) is not None:
        raise error


@cache
def proof_schema(version: int = 2) -> dict[str, Any]:
    """The JSON Schema of a proof from `apertura prove` (pipeline/proofs/; it writes 2, verify-proof reads 1 and 2)."""
    return _read(f"proof.v{version}.json")
