"""The dataset card: the release's `README.md`, so Hugging Face `datasets` (and the Hub) read it as a dataset.

Its YAML front matter declares one `configs:` entry per table with files (documents by default, then ledger,
signatures and evidence): without it `datasets.load_dataset(release)` mixes the tables and fails. `language` and
`size_categories` come from the documents; `license` is `unknown`, because a release of web pages records no
licence for them (the prose says so). The prose summarises provenance, the processing funnel and the opt-outs
from the manifest. It names no release id, path of the release or time, so reruns write the same bytes and a
moved release keeps a true card.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import yaml

from pipeline.optout.families import deciding
from pipeline.release_read import lock, table_files
from pipeline.reports.eu_summary.model import TOKENS_PER_WORD

CARD = "README.md"
# config name in the card -> table
CONFIGS: dict[str, str] = {"documents": "documents", "ledger": "ledger", "signatures": "signatures",
                           "evidence": "optout_evidence"}  # fmt: skip
_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
          (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (1_000_000_000_000, "100B<n<1T"))  # fmt: skip
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")  # ISO 639-1/-3, what the Hub's `language` accepts


def size_category(rows: int) -> str:
    """The Hub's size category of a table of `rows` rows."""
    return next((label for limit, label in _SIZES if rows < limit), "n>1T")


def front_matter(manifest: dict, languages: list[str]) -> dict:
    """The card's YAML metadata: licence, languages, size and one config per table that has files."""
    configs = []
    for name, table in CONFIGS.items():
        parts = sorted(f["path"] for f in manifest["files"] if f.get("table") == table and f["rows"])
        if parts:  # `datasets` cannot load a config without rows: an empty table gets none
            default = {"default": True} if name == "documents" else {}
            configs.append({"config_name": name, "data_files": parts, **default})
    return {
        "license": "unknown",
        "language": [code for code in languages if _LANGUAGE_CODE.fullmatch(code)],
        "size_categories": [size_category(manifest["counts"]["kept"])],
        "task_categories": ["text-generation"],
        "pretty_name": f"Apertura release ({manifest['config'].get('dump', 'apertura')})",
        "tags": ["apertura", "provenance", "opt-out", "web-crawl"],
        "configs": configs,
    }


def _statistics(release: Path, manifest: dict) -> dict:
    """Languages, words, tokens (when counted), PII placeholders and upstream dumps of the kept documents."""
    con = duckdb.connect()
    files = table_files(release, manifest, "documents")
    if not files:
        return {"languages": [], "words": 0, "tokens": None, "pii": (0, 0, 0), "dumps": []}
    lock(con, files)
    columns = {name for (name,) in con.sql("select name from parquet_schema($f)", params={"f": files}).fetchall()}
    counted = "token_count" in columns
    ((words, tokens, counted_docs, emails, ips, ibans),) = con.sql(
        f"""select coalesce(sum(word_count), 0), {'sum(token_count)' if counted else 'null'},
                   {'count(token_count)' if counted else '0'}, coalesce(sum(pii_email), 0),
                   coalesce(sum(pii_ip), 0), coalesce(sum(pii_iban), 0)
            from read_parquet($f)""",
        params={"f": files},
    ).fetchall()
    languages = [lang for (lang,) in con.sql(
        "select language from read_parquet($f) group by 1 order by count(*) desc, 1", params={"f": files}
    ).fetchall()]  # fmt: skip
    dumps = []
    if "upstream_dump" in columns:
        dumps = con.sql(
            "select upstream_dump, count(*) from read_parquet($f) where upstream_dump is not null group by 1 "
            "order by 2 desc, 1",
            params={"f": files},
        ).fetchall()
    kept = manifest["counts"]["kept"]
    return {
        "languages": languages,
        "words": int(words),
        "tokens": int(tokens) if counted and kept and counted_docs == kept else None,
        "pii": (int(emails), int(ips), int(ibans)),
        "dumps": dumps,
    }


def _table(header: list[str], rows: list[list]) -> list[str]:
    def cell(value: object) -> str:
        text = f"{value:,}" if isinstance(value, int) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(cell(v) for v in row) + " |" for row in rows),
    ]


LOADING = {  # the card's loading example: a line for each of these configs the card declares (none for an empty table)
    "documents": 'documents = load_dataset("path/to/release", split="train")           # the kept documents (default)',
    "ledger": 'ledger = load_dataset("path/to/release", "ledger", split="train")    # every removed record and why',
}


def dataset_card(release: Path, manifest: dict) -> str:
    """The card's text for `release` (its tables written, `manifest` the manifest being written for them)."""
    stats = _statistics(release, manifest)
    meta = front_matter(manifest, stats["languages"])
    counts, optout, config = manifest["counts"], manifest["optout"], manifest["config"]
    rows = {name: sum(f["rows"] for f in manifest["files"] if f.get("table") == table)
            for name, table in CONFIGS.items()}  # fmt: skip
    if stats["tokens"] is not None:
        tokens = f"{stats['tokens']:,} tokens (counted with the configured tokenizer, column `token_count`)"
    else:
        estimate = round(stats["words"] * TOKENS_PER_WORD)
        tokens = f"about {estimate:,} tokens, estimated (words × {TOKENS_PER_WORD}): no tokenizer was configured"
    formats = sorted({i["format"] for i in manifest["inputs"]})
    lines = [
        "---",
        yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000).rstrip(),
        "---",
        "",
        f"# {meta['pretty_name']}",
        "",
        f"{counts['kept']:,} text documents ({stats['words']:,} words; {tokens}) kept from {counts['inputs']:,} "
        f"input records in {len(manifest['inputs']):,} file(s) ({', '.join(formats) or 'none'}); "
        f"{counts['removed']:,} records removed, each with its reason in the ledger. Every document carries its "
        "provenance down to the input record (file, byte offset, record id, payload digest). Built by Apertura "
        f"{manifest['pipeline_version']} with configuration `{manifest['config_hash']}` "
        f"(release format {manifest['format_version']}).",
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        *(LOADING[c["config_name"]] for c in meta["configs"] if c["config_name"] in LOADING),
        "```",
        "",
        "`manifest.json` lists every file with its sha256; `apertura verify path/to/release` re-checks the files, "
        "the conservation of records and bytes and the opt-outs from the files alone. `croissant.json` describes the "
        "same tables in Croissant 1.0.",
        "",
        *_table(["config", "rows", "what"], [
            [name, rows[name], what] for name, what in (
                ("documents", "kept documents, FineWeb-compatible columns first, then provenance"),
                ("ledger", "removed records: stage, reason, detail, duplicate_of, provenance"),
                ("signatures", "MinHash signatures of the documents (datasketch-compatible)"),
                ("evidence", "opt-out evidence: site policy files seen and per-document decisions"),
            ) if any(f.get("table") == CONFIGS[name] for f in manifest["files"])
        ]),
        "",
        "A table without rows has no config (`datasets` cannot load an empty one); its empty file is still listed "
        "in `manifest.json`.",
        "",
        "## Licence",
        "",
        "`license: unknown`: the documents are web pages and other texts whose rights stay with their authors; "
        "the release records no licence for them. Whoever publishes this release should state the terms under which "
        "it is shared (and may replace `unknown` above).",
        "",
        "## Provenance",
        "",
    ]
    lines += _table(["input", "format", "sha256", "records", "kept", "removed"], [
        [i["path"], i["format"], i["sha256"][:16] + "…", i["eligible"], i["kept"], i["removed"]]
        for i in manifest["inputs"][:50]
    ])  # fmt: skip
    if len(manifest["inputs"]) > 50:
        lines += ["", f"… and {len(manifest['inputs']) - 50:,} more inputs (all in `manifest.json`)."]
    if stats["dumps"]:
        lines += ["", "Upstream datasets (the `dump` the Parquet/JSONL inputs gave their rows, in `upstream_dump`):",
                  "", *_table(["upstream dump", "documents"], [list(d) for d in stats["dumps"][:50]])]  # fmt: skip
    lines += ["", "## Processing", "", "Stages in order (records in, removed, out):", ""]
    lines += _table(["stage", "in", "removed", "out"], [[s["stage"], s["in"], s["removed"], s["out"]]
                                                         for s in counts["stages"]])  # fmt: skip
    emails, ips, ibans = stats["pii"]
    lines += [
        "",
        f"Personal data: {emails:,} e-mail addresses, {ips:,} IP addresses and {ibans:,} IBANs in the kept documents "
        "were replaced by placeholders" + ("" if config.get("pii") else " (PII replacement not recorded)") + "; other "
        "personal data may remain.",
        "",
        "## Opt-outs",
        "",
    ]
    if optout["enabled"]:
        by_signal = ", ".join(f"{reason}: {n:,}" for reason, n in sorted(optout["removed_by_signal"].items()))
        registry = optout.get("registry")
        lines += [
            f"Reservations of rights for text and data mining were honoured for {len(optout['agents'])} user agents "
            f"({', '.join(optout['agents'])}); signal families checked: {', '.join(f.name for f in deciding())}"
            + (f", and the rights-holder registry ({registry['entries']:,} entries as of {registry['as_of']})"
               if registry else "") + ". "
            f"{optout['removed']:,} records were removed for an opt-out ({by_signal or 'none'}), "
            f"decided from {optout['policy_files']:,} site policy files of {optout['origins']:,} origins; "
            "the `evidence` config holds what was seen. `apertura verify` checks that no kept document carries a "
            "reservation.",
        ]  # fmt: skip
    else:
        lines.append("Opt-outs were **not** checked for this release (the run's opt-out step was disabled).")
    lineage = manifest.get("lineage")
    if lineage:
        lines += [
            "",
            f"Derived from release {lineage['parent']['release_id']!r} (manifest sha256 "
            f"{lineage['parent']['manifest_sha256'][:16]}…) with the opt-outs in force at {lineage['derived_at']}.",
        ]
    return "\n".join(lines) + "\n"


def write_descriptions(release: Path, manifest: dict) -> list[dict]:
    """Write the dataset card and the Croissant JSON-LD into `release` (a release being assembled: its tables
    written, `manifest` its manifest but for these files) and return their manifest entries (`descriptions`)."""
    import json

    import schemas
    from pipeline.reports.croissant import build_croissant
    from pipeline.tables import file_sha256

    texts = {
        CARD: dataset_card(release, manifest),
        "croissant.json": json.dumps(build_croissant(release, manifest=manifest), indent=2, ensure_ascii=False) + "\n",
    }
    entries = []
    for name, text in texts.items():
        path = release / name
        tmp = path.with_name(name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        entries.append({"path": name, "kind": schemas.DESCRIPTIONS[name], "bytes": path.stat().st_size,
                        "sha256": file_sha256(path)})  # fmt: skip
    return entries
