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
    index/text/NNNNN/        tantivy indexes (BM25): text, title, language, status, url, entry; text stored.
                             Text and title are indexed and stored without format characters (tokens.py);
                             a text that had some is also stored as it is in the release, `original`.
                             Shard k holds the contiguous entries `text_shards[k]` of index.json (at most
                             `text_shard_docs` each), so no merge ever reads more than one shard back.

Memory while building is bounded by the batch sizes, not the release: documents stream batch by batch into
DuckDB (itself under a memory limit), the full-text shards and temporary files; what is held whole is a few
fixed-size numpy arrays per entry (one LSH band at a time: 24 bytes per entry) and the sketch's bit array.

One module of ~600 lines: one builder (`_Builder`) writes every file of the layout above from one pass over the
release, under one temporary directory renamed at the end; its helpers (batches, row writers, text shards) serve
that pass only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import math
import os
import shutil
import time
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import DedupConfig
from pipeline.fingerprints import add_dedup_keys, band_keys, signature_matrix
from pipeline.index.config import IndexConfig
from pipeline.index.sketch import Sketch
from pipeline.index.tokens import ANALYZER, analyzer, gram_hashes, word_hashes, words
from pipeline.locks import OutputLocked, output_lock
from pipeline.release_read import MANIFEST, ReleaseError, even_batches, load_manifest, table_batches, table_files
from pipeline.tables import file_sha256
from pipeline.text_identity import strip_format
from pipeline.url_identity import domain_expr, url_key_expr

INDEX_DIR = "index"
INDEX_JSON = "index.json"
FORMAT = "apertura-index"
FORMAT_VERSION = 3  # 2: text shards under text/NNNNN/; 3: entries carry `url_key`, words skip format characters
EMPTY_SIGNATURE = np.uint32(0xFFFFFFFF)  # signature value of a text without shingles
_LSH_ROWS = 65_536  # signatures read at a time while computing band keys (29 MB of uint32 at 112 perms)
LOCK_FILES = (".tantivy-meta.lock", ".tantivy-writer.lock")  # tantivy's own, empty, not part of the index

DOC_COLUMNS = ["id", "url", "url_key", "domain", "language", "title", "text_sha256", "norm_sha256", "text"]
LEDGER_COLUMNS = [
    "id", "url", "url_key", "domain", "language", "title", "text_sha256", "norm_sha256", "stage", "reason", "detail",
    "duplicate_of", "text",
]  # fmt: skip
ENTRY_SCHEMA: dict[str, pl.DataType] = {
    "entry": pl.Int64,
    "status": pl.String,
    "id": pl.String,
    "url": pl.String,
    "url_key": pl.String,
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
SITE_SCHEMA: dict[str, pl.DataType] = {
    "site": pl.String, "entry": pl.Int64, "status": pl.String, "stage": pl.String, "reason": pl.String,
}  # fmt: skip


class MembershipIndexError(RuntimeError):
    """The index cannot be built, opened or trusted, or a query is refused; the message says what to do."""


class IndexExists(MembershipIndexError):
    """The release has an index already; `force=True` (the CLI's --force) replaces it."""

    def __init__(self, target: Path) -> None:
        super().__init__(f"{target} already exists: pass force=True to rebuild it")
        self.target = target


def manifest_sha256(release: Path) -> str:
    return file_sha256(release / MANIFEST)


def dedup_config(manifest: dict) -> DedupConfig:
    """The dedup parameters the release's signatures were made with (defaults for older manifests)."""
    return DedupConfig(**manifest.get("config", {}).get("dedup", {}))


@cache
def _glibc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def _release_freed_memory() -> None:
    """Give freed heap pages back to the OS after each batch. glibc keeps them in the per-thread arenas of
    tantivy's, Arrow's and Polars' threads, where they add up (+140 MB of RSS at 300k documents, measured)
    without being reused. A no-op without glibc."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


class _RowWriter:
    """An .npy file of known shape written row block by row block through a file handle (no memory map, so
    written pages are not held in this process's memory). Values are appended in row-major order."""

    def __init__(self, path: Path, dtype: np.dtype, shape: tuple[int, int]) -> None:
        self.f = open(path, "wb")  # noqa: SIM115 - closed in close()
        np.lib.format.write_array_header_2_0(self.f, {"descr": dtype.str, "fortran_order": False, "shape": shape})
        self.dtype, self.shape, self.values = dtype, shape, 0

    def write(self, values: np.ndarray) -> None:
        self.f.write(np.ascontiguousarray(values, dtype=self.dtype).tobytes())
        self.values += values.size

    def close(self) -> None:
        self.f.close()
        if self.values != self.shape[0] * self.shape[1]:
            raise MembershipIndexError(f"wrote {self.values} values to {self.f.name}, expected shape {self.shape}")


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
    sb.add_bytes_field("original", stored=True)  # the release's text (UTF-8) when it differs from `text`
    return sb.build()


class _TextShards:
    """Full-text shards of at most `text_shard_docs` texts each, written one after the other.

    tantivy merges a shard's segments by reading them back through memory maps, and every mapped page
    counts in this process's memory until the shard is closed; one index over the whole release would end
    with a merge that maps all of it (2.6 GB at a million documents). A shard is committed, merged and
    closed before the next one starts, so the build holds one writer heap and at most one shard.
    """

    def __init__(self, directory: Path, config: IndexConfig, texts: int) -> None:
        directory.mkdir()
        self.directory, self.config = directory, config
        # equal shards (none a small tail with skewed BM25 statistics): ceil(texts / shards) each
        shards = max(1, math.ceil(texts / config.text_shard_docs))
        self.per_shard = max(1, math.ceil(texts / shards))
        self.shards: list[dict[str, Any]] = []
        self.index: Any = None
        self.writer: Any = None

    def _open(self, first_entry: int) -> None:
        import tantivy

        path = self.directory / f"{len(self.shards):05d}"
        path.mkdir()
        self.index = tantivy.Index(_text_schema(), path=str(path))
        self.index.register_tokenizer(ANALYZER, analyzer())
        self.writer = self.index.writer(
            heap_size=self.config.writer_heap_mb * 1_000_000, num_threads=self.config.writer_threads
        )
        self.shards.append({"path": path.relative_to(self.directory.parent).as_posix(), "first_entry": first_entry,
                            "entries": 0})  # fmt: skip

    def add(self, doc: Any, entry: int) -> None:
        if self.writer is None or self.shards[-1]["entries"] >= self.per_shard:
            self.close()
            self._open(entry)
        shard = self.shards[-1]
        if entry != shard["first_entry"] + shard["entries"]:
            raise MembershipIndexError(f"full-text entries out of order at {entry}")  # shards are entry ranges
        self.writer.add_document(doc)
        shard["entries"] += 1

    def close(self) -> None:
        """Commit, merge and release the open shard (its memory maps go with the index object)."""
        if self.writer is not None:
            self.writer.commit()
            self.writer.wait_merging_threads()
        self.writer = self.index = None

    def finish(self) -> list[dict[str, Any]]:
        self.close()
        if not self.shards:  # an empty release still gets a (empty) searchable shard
            self._open(0)
            self.close()
        return self.shards


class _Builder:
    """One pass over documents (with their signatures), one over the ledger; every structure appended batch
    by batch, nothing held per document but fixed-size numpy rows."""

    def __init__(self, release: Path, staging: Path, config: IndexConfig) -> None:
        self.release, self.staging, self.config = release, staging, config
        self.manifest = load_manifest(release)
        self.dedup = dedup_config(self.manifest)
        self.num_perm = self.dedup.bands * self.dedup.rows_per_band
        # Entries are staged in Parquet and loaded into DuckDB at the end: DuckDB's table buffers grew with every
        # inserted batch (~0.8 KB per document, measured) while the other structures were being written.
        self.entry_rows = _Staged(staging / "entries.tmp.parquet", _arrow_schema(ENTRY_SCHEMA))
        self.site_rows = _Staged(staging / "sites.tmp.parquet", _arrow_schema(SITE_SCHEMA))
        self.text: _TextShards  # opened in run(), once the number of texts is known
        self.gram_file = open(staging / "grams.tmp", "wb")  # noqa: SIM115 - closed in _sketch()
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
            step = self.config.sketch_rows  # a word list takes many times its text: a few texts at a time
            for start in range(0, len(frame), step):
                hashes, counts = word_hashes(words(frame["text"].slice(start, step)))
                grams = gram_hashes(hashes, counts, self.config.ngram, self.config.stride)
                self.gram_file.write(grams.tobytes())
                self.grams += len(grams)
                del hashes, counts, grams
            t = self._tick("sketch_ngrams", t)
        rows = frame.select("id", "language", "url", original="text").with_columns(
            text=strip_format(frame["text"]), title=strip_format(frame["title"])
        )
        for i, (doc_id, language, url, original, text, title) in enumerate(rows.iter_rows()):
            doc = tantivy.Document(entry=first_entry + i, id=doc_id, status=status, text=text or "")
            if original != text:
                doc.add_bytes("original", original.encode("utf-8"))
            if title:
                doc.add_text("title", title)
            if language:
                doc.add_text("language", language)
            if url:
                doc.add_text("url", url)
            self.text.add(doc, first_entry + i)
        self._tick("full_text_add", t)

    def add_entries(self, frame: pl.DataFrame) -> None:
        if "url_key" not in frame.columns:  # a release written before format 3: the identity computed here
            frame = frame.with_columns(url_key=url_key_expr(pl.col("url")), domain=domain_expr(pl.col("url")))
        rows = frame.select(
            (pl.col(n) if n in frame.columns else pl.lit(None)).cast(t).alias(n) for n, t in ENTRY_SCHEMA.items()
        )
        self.entry_rows.write(rows)
        self.site_rows.write(_site_rows(rows))

    def load_entries(self) -> None:
        """The staged rows into `entries.duckdb` (streamed, in staging order) with its point-lookup indexes,
        under DuckDB's memory limit (its ART indexes are buffer-managed: 330 MB peak at 1M entries at 256 MB)."""
        import duckdb

        con = duckdb.connect(
            str(self.staging / "entries.duckdb"),
            config={"memory_limit": f"{self.config.entries_memory_mb}MB", "threads": 1,
                    "temp_directory": str(self.staging / "duckdb.tmp")},
        )  # fmt: skip
        for table, staged in (("entries", self.entry_rows), ("sites", self.site_rows)):
            columns = ", ".join(f"{n} {t}" for n, t in staged.sql_columns())
            con.execute(f"CREATE TABLE {table} ({columns})")
            if staged.close():
                con.execute(f"INSERT INTO {table} SELECT * FROM read_parquet(?)", [str(staged.path)])
            staged.path.unlink(missing_ok=True)
        for column in ("entry", "id", "text_sha256", "norm_sha256", "url", "url_key", "domain", "duplicate_of"):
            con.execute(f"CREATE INDEX entries_{column} ON entries ({column})")
        # one row per (site suffix, entry): 'a.news.example.org' is listed under itself, 'news.example.org' and
        # 'example.org', so "this site with its subdomains" is an index lookup, not a scan with ends_with
        con.execute("CREATE INDEX sites_site ON sites (site)")
        con.execute("CHECKPOINT")
        con.close()
        shutil.rmtree(self.staging / "duckdb.tmp", ignore_errors=True)

    def run(self) -> dict[str, Any]:
        cfg, manifest = self.config, self.manifest
        n_docs = sum(f["rows"] for f in manifest["files"] if f["table"] == "documents")
        ledger_files = table_files(self.release, manifest, "ledger")
        n_ledger_text = 0
        for batch in table_batches(ledger_files, ["text"], cfg.batch_rows):
            n_ledger_text += batch.num_rows - batch.column("text").null_count
        n_sig = n_docs + n_ledger_text
        sig = _RowWriter(self.staging / "signatures.npy", np.dtype(np.uint32), (n_sig, self.num_perm))
        self.text = _TextShards(self.staging / "text", cfg, n_sig)  # the entries with text: documents first

        # Documents and their signatures (same order, same ids) read side by side, batch by batch.
        docs = even_batches(table_files(self.release, manifest, "documents"), DOC_COLUMNS, cfg.batch_rows)
        sigs = even_batches(table_files(self.release, manifest, "signatures"), ["id", "minhash"], cfg.batch_rows)
        row = 0
        for batch in docs:
            t = time.perf_counter()
            sig_batch = next(sigs, None)
            if sig_batch is None or not batch.column("id").equals(sig_batch.column("id")):
                raise MembershipIndexError("signatures are not aligned with documents: run `apertura verify`")
            values = sig_batch.column("minhash").combine_chunks().flatten().to_numpy(zero_copy_only=False)
            sig.write(values.reshape(batch.num_rows, self.num_perm))
            del sig_batch, values
            t = self._tick("signatures_copy", t)
            frame = pl.from_arrow(batch)
            del batch
            self.add_entries(
                frame.with_columns(entry=pl.int_range(row, row + len(frame)), status=pl.lit("in"), has_text=True)
            )
            t = self._tick("entries", t)
            self.add_texts(row, frame, "in")
            row += len(frame)
            del frame
            _release_freed_memory()
        if next(sigs, None) is not None or row != n_docs:
            raise MembershipIndexError(f"signatures or documents do not have the manifest's {n_docs} rows")

        # Ledger: rows with text get signatures and full text (status 'removed'); all get an entry.
        with_text, without = row, n_sig
        for batch in table_batches(ledger_files, LEDGER_COLUMNS, cfg.batch_rows):
            frame = pl.from_arrow(batch)
            if "text" not in frame.columns:
                frame = frame.with_columns(text=pl.lit(None, pl.String))
            has = frame.filter(pl.col("text").is_not_null())
            if len(has):
                t = time.perf_counter()
                keyed = add_dedup_keys(has.select("text"), self.dedup)
                sig.write(signature_matrix(keyed["minhash"], self.dedup))
                t = self._tick("ledger_signatures", t)
                self.add_entries(
                    has.with_columns(
                        entry=pl.int_range(with_text, with_text + len(has)), status=pl.lit("removed"), has_text=True
                    )
                )
                self.add_texts(with_text, has, "removed")
                with_text += len(has)
                _release_freed_memory()
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
        shards = self.text.finish()
        t = self._tick("full_text_commit", t)
        self.load_entries()
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
            "text_shards": shards,
        }

    def _lsh(self, path: Path) -> dict[str, Any]:
        """Band keys of every signed entry, sorted per band. Keys go to one temporary file per band, then each
        band is sorted on its own: memory is one band (key, order, entry: 24 bytes per entry), not all 14."""
        bands, rows = self.dedup.bands, self.dedup.rows_per_band
        n = _npy_rows(path)
        tmp = [self.staging / f"lsh_band_{b}.tmp" for b in range(bands)]
        valid_path = self.staging / "lsh_valid.tmp"
        outs = [open(p, "wb") for p in tmp]  # noqa: SIM115 - closed below
        m = 0
        with open(valid_path, "wb") as valid_out:
            for start in range(0, n, _LSH_ROWS):
                block = _read_rows(path, start, min(n, start + _LSH_ROWS))
                ok = (block != EMPTY_SIGNATURE).any(axis=1)
                valid_out.write((np.flatnonzero(ok) + start).astype(np.int64).tobytes())
                keys = band_keys(block[ok], bands, rows)
                for b in range(bands):
                    outs[b].write(keys[b].tobytes())
                m += int(ok.sum())
        for f in outs:
            f.close()
        key_out = _RowWriter(self.staging / "lsh_keys.npy", np.dtype(np.uint64), (bands, m))
        entry_out = _RowWriter(self.staging / "lsh_entries.npy", np.dtype(np.int64), (bands, m))
        valid = np.fromfile(valid_path, dtype=np.int64)
        for b in range(bands):
            raw = np.fromfile(tmp[b], dtype=np.uint64)
            tmp[b].unlink()
            order = np.argsort(raw, kind="stable")
            for i in range(0, m, _LSH_ROWS):
                part = order[i : i + _LSH_ROWS]
                key_out.write(raw[part])
                entry_out.write(valid[part])
            del raw, order
        key_out.close()
        entry_out.close()
        valid_path.unlink()
        return {"bands": bands, "rows_per_band": rows, "signed_entries": m}

    def _sketch(self) -> dict[str, Any]:
        cfg = self.config
        self.gram_file.close()
        path = self.staging / "grams.tmp"
        sketch = Sketch.empty(self.grams, cfg.false_positive_rate, self.staging / "ngrams.npy")
        step = 1 << 20  # n-grams per chunk: 8 MB, ~6 such arrays while locating their bits
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
            "words": (
                "lower-cased runs of letters/digits/marks, format characters (Unicode Cf) removed first; each "
                "Han/Hiragana/Katakana/Thai character alone"
            ),
        }


class _Staged:
    """Rows appended batch by batch to a temporary Parquet file (one row group per batch)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path, self.schema = path, schema
        self.writer = pq.ParquetWriter(path, schema, compression="lz4")
        self.rows = 0

    def write(self, frame: pl.DataFrame) -> None:
        if len(frame):
            self.writer.write_table(frame.to_arrow().cast(self.schema))
            self.rows += len(frame)

    def close(self) -> int:
        self.writer.close()
        return self.rows

    def sql_columns(self) -> list[tuple[str, str]]:
        return [(f.name, _SQL_TYPES[f.type]) for f in self.schema]


_SQL_TYPES = {pa.int64(): "BIGINT", pa.large_string(): "VARCHAR", pa.bool_(): "BOOLEAN"}


def _arrow_schema(columns: dict[str, pl.DataType]) -> pa.Schema:
    arrow = {pl.Int64: pa.int64(), pl.String: pa.large_string(), pl.Boolean: pa.bool_()}
    return pa.schema([(name, arrow[dtype]) for name, dtype in columns.items()])


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
    return pl.concat(parts) if parts else pl.DataFrame(schema=SITE_SCHEMA)


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
    lock = release.parent / f".{release.name}.{INDEX_DIR}.lock"  # beside the release: never inside it
    try:
        with output_lock(release / INDEX_DIR, lock=lock):
            return _build_index(release, config or IndexConfig(), force=force)
    except OutputLocked as err:
        raise MembershipIndexError(str(err)) from None


def _build_index(release: Path, config: IndexConfig, *, force: bool) -> dict:
    try:
        manifest = load_manifest(release)
    except ReleaseError as err:
        raise MembershipIndexError(str(err)) from None
    target = release / INDEX_DIR
    if target.exists() and not force:
        raise IndexExists(target)
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
            "counts": {k: v for k, v in counts.items() if k not in ("lsh", "sketch", "text_shards")},
            "lsh": counts["lsh"],
            "sketch": counts["sketch"],
            "text_shards": counts["text_shards"],
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
