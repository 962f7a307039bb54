"""Releases side by side: the lineage graph (which release was derived from which), the diff between two
releases, and when a record left the data ("removed since") along a lineage.

The graph is Graphviz DOT drawn by `st.graphviz_chart` in the browser. Release ids and paths come from
manifests, which are data: node names are generated (`r0`, `r1`, ...) and every label is a DOT string with
backslashes, quotes and line breaks escaped, so no manifest can add nodes, edges or attributes.

The diff is `pipeline.release_read.diff.release_diff`, the same code as `apertura release diff`, run only on two
releases that `queries.open_release` accepted (inside the data root), over a connection locked to the two
releases' own table files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from audit_app import queries


def dot_string(*lines: Any) -> str:
    """The values as one double-quoted DOT string, one per line (DOT's `\\n`): backslash and quote escaped,
    control characters (a line break inside a value, too) as spaces."""
    escaped = []
    for value in lines:
        text = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in str(value))
        escaped.append(text.replace("\\", "\\\\").replace('"', '\\"'))
    return '"' + "\\n".join(escaped) + '"'


def lineage_dot(catalog: pl.DataFrame) -> str:
    """DOT for the lineage: one box per release (id, path, documents), an edge parent → child labelled with
    what the child applied; a parent that is not under the data root is a dashed box named by its id."""
    lines = [
        "digraph lineage {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded", fontname="sans-serif", fontsize=11];',
        '  edge [fontname="sans-serif", fontsize=10];',
    ]
    names = {path: f"r{i}" for i, path in enumerate(catalog["path"].to_list())}
    missing: dict[str, str] = {}
    for row in catalog.iter_rows(named=True):
        docs = "?" if row["documents"] is None else f"{row['documents']:,}"
        label = dot_string(row["release_id"], row["path"], f"{docs} documents")
        lines.append(f"  {names[row['path']]} [label={label}];")
    for row in catalog.iter_rows(named=True):
        if not row["parent_id"]:
            continue
        if row["parent_path"] in names:
            parent = names[row["parent_path"]]
        else:
            key = f"{row['parent_id']}|{row['parent_manifest_sha256']}"
            if key not in missing:
                missing[key] = f"m{len(missing)}"
                label = dot_string(row["parent_id"], "(not under the data root)")
                lines.append(f'  {missing[key]} [label={label}, style="dashed"];')
            parent = missing[key]
        applied = []
        if row["registry_entries"] is not None:
            n = row["registry_entries"]
            applied.append(f"registry: {n:,} " + ("entry" if n == 1 else "entries"))
        if row["snapshots"]:
            applied.append(f"{row['snapshots']} snapshot files")
        edge = "derive" + (f" ({', '.join(applied)})" if applied else "")
        lines.append(f"  {parent} -> {names[row['path']]} [label={dot_string(edge)}];")
    lines.append("}")
    return "\n".join(lines)


def ancestors(catalog: pl.DataFrame, path: str) -> list[str]:
    """Paths from `path` up through its parents under the data root (itself first; stops at a cycle)."""
    parents = dict(zip(catalog["path"].to_list(), catalog["parent_path"].to_list(), strict=True))
    chain = [path]
    while (parent := parents.get(chain[-1])) and parent not in chain:
        chain.append(parent)
    return chain


def removed_since(catalog: pl.DataFrame, statuses: dict[str, dict[str, Any]]) -> dict[str, str]:
    """For each release (by path) whose status says the subject was removed and is not in it: since when.

    Walking up the lineage, the oldest release in which the subject is removed (and not kept) is where it
    left: a derived release → 'release <id>, derived <derived_at>'; a release built from the crawl →
    'release <id> (decided when it was built)'. Releases not derived from one another are independent."""
    by_path = {r["path"]: r for r in catalog.iter_rows(named=True)}
    out: dict[str, str] = {}
    for path, status in statuses.items():
        if status.get("verdict") != "removed":
            continue
        first = path
        for ancestor in ancestors(catalog, path)[1:]:
            s = statuses.get(ancestor)
            if s is None or s.get("verdict") != "removed":
                break
            first = ancestor
        row = by_path.get(first, {})
        if row.get("derived_at"):
            out[path] = f"release {row.get('release_id')}, derived {row['derived_at']}"
        else:
            out[path] = f"release {row.get('release_id', first)} (removed when it was built)"
    return out


def diff(old: str, new: str, *, root: Path | str | None = None, limit: int = 20) -> dict[str, Any]:
    """`release_diff(old, new)` for two releases under the data root, with its lists as Polars frames:
    removed_by_reason (stage, reason, n), removed_by_domain (domain, reason, n), added_by_domain (domain, n),
    removed_examples, added_examples. Raises queries.ReleaseAccessError for a release that cannot be opened."""
    root = Path(root or queries.data_root()).resolve()
    paths = []
    for given in (old, new):
        opened = queries.open_release(given, root)  # validates the manifest's file list; closed right away
        opened.con.close()
        paths.append(opened.path)
    from pipeline.release_read import ReleaseError
    from pipeline.release_read.diff import release_diff

    try:
        data = release_diff(paths[0], paths[1], limit=limit)
    except (ReleaseError, OSError) as err:
        raise queries.ReleaseAccessError(f"the diff cannot be computed: {err}") from None
    schemas = {
        "removed_by_reason": {"stage": pl.String, "reason": pl.String, "n": pl.Int64},
        "removed_by_domain": {"domain": pl.String, "reason": pl.String, "n": pl.Int64},
        "added_by_domain": {"domain": pl.String, "n": pl.Int64},
        "removed_examples": {"id": pl.String, "url": pl.String, "domain": pl.String, "stage": pl.String,
                             "reason": pl.String, "detail": pl.String},
        "added_examples": {"id": pl.String, "url": pl.String, "domain": pl.String},
    }  # fmt: skip
    for key, schema in schemas.items():
        data[key] = pl.DataFrame(data[key], schema=schema) if data[key] else pl.DataFrame(schema=schema)
    return data
