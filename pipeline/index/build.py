"""`build_index`: the membership sidecar `R/index/`, written under a temporary name and renamed into place.

Layout (every file listed with sha256 and size in `index/index.json`, which also binds the index to the
sha256 of the release's `manifest.json`):

    index/index.json         format, manifest sha256, config, counts, sketch parameters, files
    index/entries.duckdb     table `entries`: one row per document (status 'in') and per ledger row
                             (status 'removed'), no text; indexed on text_sha256, norm_sha256, url, domain,
                             duplicate_of, id. `entry` numbers documents first (release order), then
                             removed rows that kept their text, then the rest. Table `sites`: every entry
                             under each suffix of its domain (so a site with its subdomains is a lookup).
    index/signatures.npy     (entries with text) x num_perm uint32 MinHash signatures (documents: copied
                             from the release; removed rows: computed with the release's dedup config)
    index/lsh_keys.npy       (bands, n) uint64 band keys, sorted per band; `lsh_entries.npy` the entries
    index/ngrams.npy         the n-gram sketch (blocked Bloom filter, uint64 words)
    index/text/              tantivy index (BM25): text, title, language, status, url, entry; text stored
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import DedupConfig
from pipeline.index.config import IndexConfig
from pipeline.index.sketch import Sketch
from pipeline.index.tokens import ANALYZER, analyzer, gram_hashes, word_hashes, words
from pipeline.release import MANIFEST, ReleaseError, load_manifest, table_files
from pipeline.steps.dedup import add_dedup_keys
from pipeline.tables import file_sha256

INDEX_DIR = "index"
INDEX_JSON = "index.json"
FORMAT = "apertura-index"
FORMAT_VERSION = 1
_EMPTY = np.uint32(0xFFFFFFFF)  # signature value of a text without shingles
_POLY = np.uint64(0x9E3779B97F4A7C15)
LOCK_FILES = (".tantivy-meta.lock", ".tantivy-writer.lock")  # tantivy's own, empty, not part of the index

DOC_COLUMNS = ["id", "url", "domain", "language", "title", "text_sha256", "norm_sha256", "text"]
LEDGER_COLUMNS = [
    "id", "url", "domain", "language", "title", "text_sha256", "norm_sha256", "stage", "reason", "detail",
    "duplicate_of", "text",
]  # fmt: skip
ENTRY_SCHEMA: dict[str, pl.DataType] = {
    "entry": pl.Int64,
    "status": pl.String,
    "id": pl.String,
    "url": pl.String,
    "domain": pl.String,
    "language": pl.String,
    "title": pl.String,
    "text_sha256": pl.String,
    "norm_sha256": pl.String,
    "stage": pl.String,
    "reason": pl.String,
    "detail": pl.String,
    "duplicate_of": pl.String,
    "has_text": pl.Boolean,
}


class MembershipIndexError(RuntimeError):
    """The index cannot be built, opened or trusted, or a query is refused; the message says what to do."""


def manifest_sha256(release: Path) -> str:
    return file_sha256(release / MANIFEST)


def dedup_config(manifest: dict) -> DedupConfig:
    """The dedup parameters the release's signatures were made with (defaults for older manifests)."""
    return DedupConfig(**manifest.get("config", {}).get("dedup", {}))


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(bands, n) uint64 key per LSH band: equal bands give equal keys (collisions are caught later by
    comparing whole signatures)."""
    keys = np.empty((bands, len(sig)), dtype=np.uint64)
    for b in range(bands):
        key = np.zeros(len(sig), dtype=np.uint64)
        for j in range(b * rows, (b + 1) * rows):
            key = key * _POLY + sig[:, j].astype(np.uint64) + np.uint64(1)
            key ^= key >> np.uint64(29)
        keys[b] = key
    return keys


def _batches(files: list[str], columns: list[str], rows: int) -> Iterator[pa.RecordBatch]:
    for path in files:
        parquet = pq.ParquetFile(path)
        present = [c for c in columns if c in parquet.schema_arrow.names]
        yield from parquet.iter_batches(batch_size=rows, columns=present)


class _RowWriter:
    """An .npy file of known shape written row block by row block through a file handle (no memory map, so
    written pages are not held in this process's memory)."""

    def __init__(self, path: Path, dtype: np.dtype, shape: tuple[int, int]) -> None:
        self.f = open(path, "wb")  # noqa: SIM115 - closed in close()
        np.lib.format.write_array_header_2_0(self.f, {"descr": dtype.str, "fortran_order": False, "shape": shape})
        self.dtype, self.shape, self.rows = dtype, shape, 0

    def write(self, block: np.ndarray) -> None:
        self.f.write(np.ascontiguousarray(block, dtype=self.dtype).tobytes())
        self.rows += len(block)

    def close(self) -> None:
        self.f.close()
        if self.rows != self.shape[0]:
            raise MembershipIndexError(f"wrote {self.rows} signature rows, expected {self.shape[0]}")


def _npy_rows(path: Path) -> int:
    return np.load(path, mmap_mode="r").shape[0]


def _read_rows(path: Path, start: int, stop: int) -> np.ndarray:
    """Rows [start, stop) of a 2-D .npy file, read (not mapped)."""
    header = np.load(path, mmap_mode="r")
    width, dtype, offset = header.shape[1], header.dtype, header.offset
    del header
    with open(path, "rb") as f:
        f.seek(offset + start * width * dtype.itemsize)
        return np.fromfile(f, dtype=dtype, count=(stop - start) * width).reshape(-1, width)


def _text_schema() -> Any:
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("entry", stored=True, indexed=True, fast=True)
    sb.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("status", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("language", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("url", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("title", stored=True, tokenizer_name=ANALYZER, index_option="position")
    sb.add_text_field("text", stored=True, tokenizer_name=ANALYZER, index_option="position")
    return sb.build()


class _Builder:
    """One pass over documents, one over the ledger; every structure appended batch by batch."""

    def __init__(self, release: Path, staging: Path, config: IndexConfig) -> None:
        import duckdb
        import tantivy

        self.release, self.staging, self.config = release, staging, config
        self.manifest = load_manifest(release)
        self.dedup = dedup_config(self.manifest)
        self.num_perm = self.dedup.bands * self.dedup.rows_per_band
        self.con = duckdb.connect(str(staging / "entries.duckdb"), config={"memory_limit": "1GB", "threads": 2})
        self.con.execute(
            "CREATE TABLE entries (" + ", ".join(f"{n} {_sql_type(t)}" for n, t in ENTRY_SCHEMA.items()) + ")"
        )
        # one row per (site suffix, entry): 'a.news.example.org' is listed under itself, 'news.example.org' and
        # 'example.org', so "this site with its subdomains" is an index lookup, not a scan with ends_with
        self.con.execute(
            "CREATE TABLE sites (site VARCHAR, entry BIGINT, status VARCHAR, stage VARCHAR, reason VARCHAR)"
        )
        (staging / "text").mkdir()
        self.text_index = tantivy.Index(_text_schema(), path=str(staging / "text"))
        self.text_index.register_tokenizer(ANALYZER, analyzer())
        self.writer = self.text_index.writer(
            heap_size=config.writer_heap_mb * 1_000_000, num_threads=config.writer_threads
        )
        self.gram_file = open(staging / "grams.tmp", "wb")  # noqa: SIM115 - closed in finish()
        self.grams = 0
        self.timings: dict[str, float] = {}

    def _tick(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - started
        return now

    def add_texts(self, first_entry: int, frame: pl.DataFrame, status: str) -> None:
        """Sketch n-grams (documents only: the sketch is the training data) and full-text documents."""
        import tantivy

        t = time.perf_counter()
        if status == "in":
            hashes, counts = word_hashes(words(frame["text"]))
            grams = gram_hashes(hashes, counts, self.config.ngram, self.config.stride)
            self.gram_file.write(grams.tobytes())
            self.grams += len(grams)
            t = self._tick("sketch_ngrams", t)
        for i, (doc_id, text, title, language, url) in enumerate(
            frame.select("id", "text", "title", "language", "url").iter_rows()
        ):
            doc = tantivy.Document(entry=first_entry + i, id=doc_id, status=status, text=text or "")
            if title:
                doc.add_text("title", title)
            if language:
                doc.add_text("language", language)
            if url:
                doc.add_text("url", url)
            self.writer.add_document(doc)
        self._tick("full_text_add", t)

    def add_entries(self, frame: pl.DataFrame) -> None:
        rows = frame.select(
            (pl.col(n) if n in frame.columns else pl.lit(None)).cast(t).alias(n) for n, t in ENTRY_SCHEMA.items()
        )
        self.con.register("batch", rows.to_arrow())
        self.con.execute("INSERT INTO entries SELECT * FROM batch")
        self.con.unregister("batch")
        self.con.register("batch", _site_rows(rows).to_arrow())
        self.con.execute("INSERT INTO sites SELECT * FROM batch")
        self.con.unregister("batch")

    def run(self) -> dict[str, Any]:
        cfg, manifest = self.config, self.manifest
        sig_files = table_files(self.release, manifest, "signatures")
        n_docs = sum(f["rows"] for f in manifest["files"] if f["table"] == "documents")
        t = time.perf_counter()
        # Signatures first (aligned 1:1 with documents, same order): copy into a memory map.
        ledger_files = table_files(self.release, manifest, "ledger")
        n_ledger_text = 0
        for batch in _batches(ledger_files, ["text"], cfg.batch_rows):
            n_ledger_text += batch.num_rows - batch.column("text").null_count
        n_sig = n_docs + n_ledger_text
        sig = _RowWriter(self.staging / "signatures.npy", np.dtype(np.uint32), (n_sig, self.num_perm))
        sig_ids: list[pa.Array] = []
        row = 0
        for batch in _batches(sig_files, ["id", "minhash"], cfg.batch_rows):
            values = batch.column("minhash").flatten().to_numpy(zero_copy_only=False)
            sig.write(values.reshape(batch.num_rows, self.num_perm))
            sig_ids.append(batch.column("id"))
            row += batch.num_rows
        if row != n_docs:
            raise MembershipIndexError(f"signatures have {row} rows, documents {n_docs}: the release is inconsistent")
        all_sig_ids = pa.concat_arrays(sig_ids) if sig_ids else pa.array([], pa.string())
        t = self._tick("signatures_copy", t)

        row = 0
        for batch in _batches(table_files(self.release, manifest, "documents"), DOC_COLUMNS, cfg.batch_rows):
            frame = pl.from_arrow(batch)
            if not batch.column("id").equals(all_sig_ids.slice(row, batch.num_rows)):
                raise MembershipIndexError("signatures are not aligned with documents: run `apertura verify`")
            t = time.perf_counter()
            self.add_entries(
                frame.with_columns(entry=pl.int_range(row, row + len(frame)), status=pl.lit("in"), has_text=True)
            )
            t = self._tick("entries", t)
            self.add_texts(row, frame, "in")
            row += len(frame)

        # Ledger: rows with text get signatures and full text (status 'removed'); all get an entry.
        with_text, without = row, n_sig
        for batch in _batches(ledger_files, LEDGER_COLUMNS, cfg.batch_rows):
            frame = pl.from_arrow(batch)
            if "text" not in frame.columns:
                frame = frame.with_columns(text=pl.lit(None, pl.String))
            has = frame.filter(pl.col("text").is_not_null())
            if len(has):
                t = time.perf_counter()
                keyed = add_dedup_keys(has.select("text"), self.dedup)
                sig.write(np.asarray(keyed["minhash"].to_list(), dtype=np.uint32))
                t = self._tick("ledger_signatures", t)
                self.add_entries(
                    has.with_columns(
                        entry=pl.int_range(with_text, with_text + len(has)), status=pl.lit("removed"), has_text=True
                    )
                )
                self.add_texts(with_text, has, "removed")
                with_text += len(has)
            rest = frame.filter(pl.col("text").is_null())
            if len(rest):
                self.add_entries(
                    rest.with_columns(
                        entry=pl.int_range(without, without + len(rest)), status=pl.lit("removed"), has_text=False
                    )
                )
                without += len(rest)
        sig.close()

        t = time.perf_counter()
        self.writer.commit()
        self.writer.wait_merging_threads()
        del self.writer
        t = self._tick("full_text_commit", t)
        for column in ("entry", "id", "text_sha256", "norm_sha256", "url", "domain", "duplicate_of"):
            self.con.execute(f"CREATE INDEX entries_{column} ON entries ({column})")
        self.con.execute("CREATE INDEX sites_site ON sites (site)")
        self.con.execute("CHECKPOINT")
        self.con.close()
        t = self._tick("entries", t)

        lsh = self._lsh(self.staging / "signatures.npy")
        t = self._tick("lsh_keys", t)
        sketch = self._sketch()
        self._tick("sketch_fill", t)
        return {
            "documents": n_docs,
            "removed": n_ledger_text + without - n_sig,
            "removed_with_text": n_ledger_text,
            "entries": without,
            "lsh": lsh,
            "sketch": sketch,
        }

    def _lsh(self, path: Path) -> dict[str, Any]:
        """Band keys of every signed entry, sorted per band; signatures are read in chunks (not mapped), so
        memory stays at the keys (bands x 8 bytes per entry) whatever the signature file's size."""
        bands, rows = self.dedup.bands, self.dedup.rows_per_band
        step = 200_000
        n = _npy_rows(path)
        chunk_keys, chunk_valid = [], []
        for start in range(0, n, step):
            block = _read_rows(path, start, min(n, start + step))
            ok = (block != _EMPTY).any(axis=1)
            chunk_valid.append(np.flatnonzero(ok) + start)
            chunk_keys.append(band_keys(block[ok], bands, rows))
        valid = np.concatenate(chunk_valid) if chunk_valid else np.zeros(0, np.int64)
        raw = np.concatenate(chunk_keys, axis=1) if chunk_keys else np.zeros((bands, 0), np.uint64)
        del chunk_keys
        keys = np.lib.format.open_memmap(
            self.staging / "lsh_keys.npy", mode="w+", dtype=np.uint64, shape=(bands, len(valid))
        )
        entries = np.lib.format.open_memmap(
            self.staging / "lsh_entries.npy", mode="w+", dtype=np.int64, shape=(bands, len(valid))
        )
        for b in range(bands):
            order = np.argsort(raw[b], kind="stable")
            keys[b] = raw[b][order]
            entries[b] = valid[order]
        keys.flush()
        entries.flush()
        return {"bands": bands, "rows_per_band": rows, "signed_entries": len(valid)}

    def _sketch(self) -> dict[str, Any]:
        cfg = self.config
        self.gram_file.close()
        path = self.staging / "grams.tmp"
        sketch = Sketch.empty(self.grams, cfg.false_positive_rate, self.staging / "ngrams.npy")
        step = 1 << 22  # n-grams per chunk: 32 MB
        with open(path, "rb") as f:
            for _ in range(0, self.grams, step):
                sketch.add(np.fromfile(f, dtype=np.uint64, count=step))
        path.unlink()
        sketch.bits.flush()
        return {
            "kind": "blocked bloom filter (512-bit blocks) over xxh3_64 word n-gram hashes",
            "ngram": cfg.ngram,
            "stride": cfg.stride,
            "ngrams_inserted": self.grams,
            "blocks": sketch.blocks,
            "bits": sketch.blocks * 512,
            "k": sketch.k,
            "false_positive_rate_configured": cfg.false_positive_rate,
            "false_positive_rate_expected": sketch.expected_fpr(),
            "words": "lower-cased runs of letters/digits/marks; each Han/Hiragana/Katakana/Thai character alone",
        }


def _site_rows(entries: pl.DataFrame) -> pl.DataFrame:
    """(site, entry, status, stage, reason) for every suffix of each domain with at least two labels."""
    labels = entries.select("entry", "status", "stage", "reason", pl.col("domain").str.split(".").alias("labels"))
    labels = labels.filter(pl.col("labels").is_not_null())
    longest = int(labels["labels"].list.len().max() or 0)
    parts = [
        labels.filter(pl.col("labels").list.len() - k >= 2).select(
            pl.col("labels").list.slice(k).list.join(".").alias("site"), "entry", "status", "stage", "reason"
        )
        for k in range(max(0, longest - 1))
    ]
    schema = {"site": pl.String, "entry": pl.Int64, "status": pl.String, "stage": pl.String, "reason": pl.String}
    return pl.concat(parts) if parts else pl.DataFrame(schema=schema)


def _sql_type(dtype: pl.DataType) -> str:
    return {pl.Int64: "BIGINT", pl.String: "VARCHAR", pl.Boolean: "BOOLEAN"}[dtype]


def _listing(directory: Path) -> list[dict[str, Any]]:
    files = []
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.name != INDEX_JSON and path.name not in LOCK_FILES:
            rel = path.relative_to(directory).as_posix()
            files.append({"path": rel, "bytes": path.stat().st_size, "sha256": file_sha256(path)})
    return files


def build_index(release_dir: str | os.PathLike[str], config: IndexConfig | None = None, *, force: bool = False) -> dict:
    """Build `R/index/` for a release and return its `index.json` content.

    The release itself is never touched: the index is a sidecar that `verify_index` checks against the
    manifest it was built from. An existing index is replaced only with `force` (old one removed last).
    """
    release = Path(release_dir)
    config = config or IndexConfig()
    try:
        manifest = load_manifest(release)
    except ReleaseError as err:
        raise MembershipIndexError(str(err)) from None
    target = release / INDEX_DIR
    if target.exists() and not force:
        raise MembershipIndexError(f"{target} already exists: pass force=True (--force) to rebuild it")
    started = time.perf_counter()
    for leftover in [*release.glob(f".{INDEX_DIR}.writing-*"), *release.glob(f".{INDEX_DIR}.old-*")]:
        shutil.rmtree(leftover, ignore_errors=True)  # from an interrupted build: never part of the release
    staging = release / f".{INDEX_DIR}.writing-{os.getpid()}"
    staging.mkdir()
    try:
        builder = _Builder(release, staging, config)
        counts = builder.run()
        info = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "release_id": manifest.get("release_id", release.name),
            "manifest_sha256": manifest_sha256(release),
            "config": config.model_dump(mode="json"),
            "dedup": builder.dedup.model_dump(mode="json"),
            "counts": {k: v for k, v in counts.items() if k not in ("lsh", "sketch")},
            "lsh": counts["lsh"],
            "sketch": counts["sketch"],
            "software": {name: version(name) for name in ("tantivy", "duckdb", "numpy", "polars", "xxhash")},
            "build_seconds": {k: round(v, 3) for k, v in sorted(builder.timings.items())},
            "files": _listing(staging),
        }
        info["build_seconds"]["total"] = round(time.perf_counter() - started, 3)
        (staging / INDEX_JSON).write_text(json.dumps(info, indent=2) + "\n")
        old = release / f".{INDEX_DIR}.old-{os.getpid()}"
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return info
