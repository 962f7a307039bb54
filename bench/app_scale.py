"""The audit app on a release of a million documents: first render of every page and typical filters.

    .venv/bin/python -m bench.app_scale [--docs 1000000] [--ledger 300000] [--out DIR] [--keep] [--no-index]

1. Builds a synthetic format-3 release (url_key and domain stored, as the app expects; no commitments) in a
   temporary directory (or `--out`), never in the repository:
   `--docs` documents, a `--ledger` of removed records (read, extract, language, quality, dedup and 10%
   opt-out removals without text) and opt-out evidence (a robots.txt fetch per origin, tdmrep.json for some,
   a 'reserved' decision per opt-out removal, 'allowed' statements about some kept documents), written with
   `pipeline.tables.PartWriter` (the release's schemas, zstd, 50k-row groups) in vectorised Polars chunks.
   Domains follow a Zipf-like law over 20k sites; texts are `--paragraphs` (9) paragraphs from a pool of 5,000
   plus the document's id: about 3,500 characters, the size of a FineWeb document (FineWeb: ~680 tokens per
   document). Random MinHash signatures (no page reads them; the index needs the table: random signatures share
   no LSH band, so near-duplicate lookups find nothing and only the exact/overlap paths are exercised).
   Then, unless `--no-index`, the membership index (`pipeline.index.build_index`) in a spawned process: its
   build time and size are figures too (about 10 min for a million documents on 2 cores, hence `--docs`).
2. In a fresh spawned process (so its peak RSS is its own), drives each page with
   `streamlit.testing.v1.AppTest`: the first render of every page with `st.cache_data` cleared (the DuckDB
   connection is opened once, by the first page), then the typical interactions: search by domain, URL
   substring, language and text substring; "Am I in" for a domain and a URL (kept and opted out); the
   compliance drill-down for one domain; the removals reason switch. With an index this runs twice: with the
   index (figures `*_index`) and with `index/` moved aside (figures `*_no_index`: the DuckDB scans), so the
   text search and "Am I in?" with pasted text (3 words and a whole paragraph) are compared on the same data.
   Without an index a text is looked for in the background: its figure (`app_filter_*`) is the render that returns
   (with the status, or with the answer when the scan ended within the page's short wait), and
   `app_answer_ready_*` (informational) is the time from the interaction until the answer is shown; in a browser
   the page's poll adds up to a second to the latter.

Prints one JSON line per figure on stdout ({name, value, unit, target, ok, peak_rss_mb, command, runs, shown:
the page's first message, to see the filter matched what it should}), then a table on stderr. `value` is the
median of `--repeat` runs (each in a fresh process). Targets: first render < 2 s, an interaction < 1 s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

FIRST_RENDER_TARGET_S = 2.0
FILTER_TARGET_S = 1.0
# Interactions that look a text up: without an index each reads every text, in the background (audit_app/common.py
# `scan`); their figure is the render that returns, and `app_answer_ready_*` when the answer is shown.
TEXT_INTERACTIONS = frozenset({
    "search_text_substring", "search_text_substring_no_match", "search_text_language", "am_i_in_text",
    "am_i_in_text_paragraph", "am_i_in_text_absent", "rights_holder_text_paragraph",
})  # fmt: skip
SCANNING = "in the background: "  # the page's status while a scan runs (audit_app/common.py `_scan_polling`)
CHUNK = 100_000  # rows generated and written at a time (bounded memory)
DOMAINS = 20_000
OPTOUT_DOMAINS = 1_000  # sites whose every crawled page was removed for opt-out
LANGUAGES = (("en", 0.6), ("de", 0.15), ("fr", 0.1), ("es", 0.08), ("it", 0.07))
TLDS = ("com", "org", "net", "de", "fr", "es", "it", "io")
CONFIG_HASH = "sha256:" + "b" * 64
VERSION = "0.1.0"
APP = Path(__file__).resolve().parent.parent / "audit_app"
OPTOUT_REASONS = ("optout_robots", "optout_tdmrep", "optout_noai", "optout_ai_txt")
LEDGER_SHARES = (  # (stage, reason, share of the ledger, text kept)
    ("read", "read_http_status", 0.12, False),
    ("read", "read_empty", 0.05, False),
    ("extract", "extract_no_text", 0.08, False),
    ("language", "language_not_kept", 0.15, True),
    ("quality", "gopher_short_doc", 0.15, True),
    ("quality", "c4_lorem_ipsum", 0.05, True),
    ("dedup", "dedup_exact", 0.12, True),
    ("dedup", "dedup_near", 0.18, True),
    ("optout", "*", 0.10, False),
)
STAGES = ("read", "extract", "language", "quality", "pii", "optout", "dedup")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --------------------------------------------------------------------------------------------- build


def _pool(rng: random.Random, n: int = 5_000) -> list[str]:
    """Paragraphs of 40-60 words from a 3,000-word vocabulary (one plain-Python pass, then reused)."""
    vocab = [f"{rng.choice('bcdfghklmnprstvz')}{rng.choice('aeiou')}{rng.choice('lmnrst')}{i}" for i in range(3_000)]
    common = ("the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by")
    vocab[: 2 * len(common)] = common * 2
    return [" ".join(rng.choices(vocab, k=rng.randint(40, 60))).capitalize() + "." for _ in range(n)]


def _domain_names() -> list[str]:
    names = []
    for k in range(DOMAINS):
        host = f"site{k}.{TLDS[k % len(TLDS)]}"
        names.append(f"news.{host}" if k % 7 == 3 else host)
    return names


def _zipf_index(rng, n: int, size: int):
    """Indices in [0, size) with a heavy head (a few big sites, a long tail), like crawl domains."""
    import numpy as np

    return np.minimum((size * rng.random(n) ** 3).astype(np.int64), size - 1)


def _documents(start: int, n: int, rng, pool, domains, n_paragraphs: int) -> Any:
    import numpy as np
    import polars as pl

    from pipeline.url_identity import url_key_expr

    idx = np.arange(start, start + n, dtype=np.int64)
    file_no = idx // 10_000  # 10k records per source file
    offset = (idx % 10_000) * 7_919 + 1_000
    dom = pl.Series("domain", domains).gather(_zipf_index(rng, n, len(domains)))
    langs, weights = zip(*LANGUAGES, strict=True)
    lang = pl.Series(np.array(langs)[rng.choice(len(langs), size=n, p=np.array(weights))])
    paragraphs = pl.Series(pool)
    days = rng.integers(0, 365, n)
    dup = rng.random(n) < 0.05  # 5% of documents keep a duplicate cluster
    frame = pl.DataFrame({"i": idx, "file_no": file_no, "offset": offset, "domain": dom, "language": lang})
    sha = pl.format("{}{}", pl.col("file_no").cast(pl.String).str.zfill(5), pl.lit("a" * 59))  # ids unique
    frame = frame.with_columns(
        source_sha256=sha,
        id=pl.format("{}-{}", sha.str.slice(0, 16), pl.col("offset")),
        url=pl.format("https://{}/{}/{}", pl.col("domain"), pl.lit("article"), pl.col("i")),
        date=pl.lit("2025-01-01").str.to_date() + pl.duration(days=pl.Series(days)),
        file_path=pl.format("/data/crawl/CC-MAIN-2025-05-{}.warc.gz", pl.col("file_no").cast(pl.String).str.zfill(5)),
        title=pl.format("Article {} on {}", pl.col("i"), pl.col("domain")),
        language_score=pl.Series(0.65 + 0.35 * rng.random(n)),
        warc_record_offset=pl.col("offset"),
        warc_record_length=pl.Series(rng.integers(2_000, 60_000, n)),
        warc_record_id=pl.format("<urn:uuid:{}>", pl.col("i").cast(pl.String).str.zfill(32)),
        warc_payload_digest=pl.format("sha1:{}", pl.col("i").cast(pl.String).str.zfill(32)),
        http_status=pl.lit(200, pl.Int32),
        content_type=pl.lit("text/html"),
        charset=pl.lit("utf-8"),
        extractor=pl.lit("trafilatura 2.0"),
        dump=pl.lit("CC-MAIN-2025-05"),
        source_format=pl.lit("warc"),
        pii_email=pl.lit(0, pl.Int32),
        pii_ip=pl.lit(0, pl.Int32),
        pii_iban=pl.lit(0, pl.Int32),
        pipeline_version=pl.lit(VERSION),
        config_hash=pl.lit(CONFIG_HASH),
        dup=pl.Series(dup),
    )
    frame = frame.with_columns(
        date=pl.col("date").dt.strftime("%Y-%m-%dT12:00:00Z"),
        text=pl.format(
            "{} (ref {})",
            pl.concat_str(
                [paragraphs.gather(rng.integers(0, len(pool), n)) for _ in range(n_paragraphs)], separator="\n\n"
            ),
            pl.col("id"),
        ),
        dedup_cluster_id=pl.when(pl.col("dup")).then(pl.col("id")),
        dedup_cluster_size=pl.when(pl.col("dup")).then(pl.Series(rng.integers(2, 6, n))).otherwise(1).cast(pl.Int32),
    )
    return frame.with_columns(
        url_key=url_key_expr(pl.col("url")),
        word_count=(pl.col("text").str.count_matches(" ") + 1).cast(pl.Int32),
        text_sha256=pl.col("id").map_batches(_sha, return_dtype=pl.String),
        norm_sha256=pl.col("text").hash(7).cast(pl.String).str.zfill(64),
    )


def _sha(ids) -> Any:
    """sha256 hex per value (stands in for the text hash; hashing 1M short ids takes about a second)."""
    import polars as pl

    return pl.Series([hashlib.sha256(v.encode()).hexdigest() for v in ids.to_list()], dtype=pl.String)


def _ledger(n: int, rng, pool, domains, kept_clusters: list[str]) -> Any:
    import numpy as np
    import polars as pl

    from pipeline.url_identity import url_key_expr

    parts = []
    start = 0
    for stage, reason, share, with_text in LEDGER_SHARES:
        m = round(n * share)
        idx = np.arange(start, start + m, dtype=np.int64)
        start += m
        if stage == "optout":
            dom = pl.Series([f"blocked{k}.com" for k in range(OPTOUT_DOMAINS)]).gather(
                _zipf_index(rng, m, OPTOUT_DOMAINS)
            )
            reasons = pl.Series(np.array(OPTOUT_REASONS)[rng.integers(0, len(OPTOUT_REASONS), m)])
        else:
            dom = pl.Series(domains).gather(_zipf_index(rng, m, len(domains)))
            reasons = pl.Series([reason] * m)
        frame = pl.DataFrame({"j": idx, "domain": dom, "reason": reasons}).with_columns(
            stage=pl.lit(stage),
            id=pl.format("{}-{}", pl.lit("c" * 16), pl.col("j")),
            url=pl.format("https://{}/removed/{}", pl.col("domain"), pl.col("j")),
        )
        extra: dict[str, Any] = {}
        if with_text:
            extra["text"] = pl.Series(pool).gather(rng.integers(0, len(pool), m))
            extra["language"] = pl.lit("en")
        if stage == "dedup":
            keeper = pl.Series(kept_clusters).gather(rng.integers(0, len(kept_clusters), m))
            extra["duplicate_of"] = keeper
            extra["detail"] = (
                pl.format("estimated jaccard {} with {}", pl.lit("0.91"), keeper)
                if reason == "dedup_near"
                else pl.format("same text as {}", keeper)
            )
        if stage == "quality":
            extra["detail"] = pl.lit("words=12")
        parts.append(frame.with_columns(**extra))
    frame = pl.concat(parts, how="diagonal_relaxed")
    return frame.with_columns(
        url_key=url_key_expr(pl.col("url")),
        date=pl.lit("2025-03-01T00:00:00Z"),
        dump=pl.lit("CC-MAIN-2025-05"),
        file_path=pl.lit("/data/crawl/CC-MAIN-2025-05-00000.warc.gz"),
        source_sha256=pl.lit("c" * 64),
        source_format=pl.lit("warc"),
        warc_record_offset=pl.col("j"),
        record_type=pl.lit("response"),
        pipeline_version=pl.lit(VERSION),
        config_hash=pl.lit(CONFIG_HASH),
    )


def _evidence(rng, domains, ledger, kept_sample) -> Any:
    """Policy files per origin, a reserved decision per opt-out removal, 'allowed' statements on kept ones."""
    import numpy as np
    import polars as pl

    hosts = pl.Series([*domains, *(f"blocked{k}.com" for k in range(OPTOUT_DOMAINS))])
    verdicts = np.array(["observed", "not_found", "unreachable", "malformed", "redirect"])
    robots = pl.DataFrame({"domain": hosts}).with_columns(
        kind=pl.lit("policy_file"),
        origin=pl.col("domain"),
        url=pl.format("https://{}/robots.txt", pl.col("domain")),
        signal=pl.lit("robots.txt"),
        verdict=pl.Series(verdicts[rng.choice(5, size=len(hosts), p=[0.8, 0.12, 0.04, 0.02, 0.02])]),
        rule=pl.lit("User-agent groups: 3"),
        http_status=pl.lit(200, pl.Int32),
    )
    tdm = robots.head(5_000).with_columns(
        url=pl.format("https://{}/.well-known/tdmrep.json", pl.col("domain")),
        signal=pl.lit("tdmrep.json"),
        verdict=pl.lit("observed"),
    )
    optout = ledger.filter(pl.col("stage") == "optout")
    signal = pl.col("reason").str.strip_prefix("optout_").str.replace("ai_txt", "ai.txt")
    reserved = optout.select(
        kind=pl.lit("document"),
        document_id=pl.col("id"),
        url=pl.col("url"),
        domain=pl.col("domain"),
        origin=pl.col("domain"),
        signal=signal,
        agents=pl.lit(["GPTBot", "CCBot"], dtype=pl.List(pl.String)),
        verdict=pl.lit("reserved"),
        rule=pl.lit("Disallow: / (group 'GPTBot')"),
        raw=pl.lit("User-agent: GPTBot\nDisallow: /"),
        http_status=pl.lit(200, pl.Int32),
    )
    allowed = kept_sample.select(
        kind=pl.lit("document"),
        document_id=pl.col("id"),
        url=pl.col("url"),
        domain=pl.col("domain"),
        origin=pl.col("domain"),
        signal=pl.lit("noai"),
        agents=pl.lit(["GPTBot", "CCBot"], dtype=pl.List(pl.String)),
        verdict=pl.lit("allowed"),
        rule=pl.lit("<meta name=robots content=index>"),
        http_status=pl.lit(200, pl.Int32),
    )
    frame = pl.concat([robots, tdm, reserved, allowed], how="diagonal_relaxed")
    return frame.with_columns(
        source_file=pl.lit("/data/crawl/robots-00000.warc.gz"),
        source_offset=pl.int_range(pl.len(), dtype=pl.Int64) * 1_000,
        source_length=pl.lit(900, pl.Int64),
        fetched_at=pl.lit("2025-01-01T00:00:00Z"),
        pipeline_version=pl.lit(VERSION),
        config_hash=pl.lit(CONFIG_HASH),
    )


def bench_inputs(docs: int, removed: int) -> list[dict[str, Any]]:
    """The manifest's input files (as `apertura run` lists them, read by the reports): one per 10,000 documents,
    the kept and removed records spread over them."""
    n = max(1, -(-docs // 10_000))
    out = []
    for k in range(n):
        kept, gone = docs // n + (k < docs % n), removed // n + (k < removed % n)
        out.append({"path": f"/data/crawl/CC-MAIN-2025-05-{k:05d}.warc.gz", "format": "warc", "sha256": "0" * 64,
                    "bytes": 0, "records_by_type": {"response": kept + gone}, "eligible": kept + gone, "kept": kept,
                    "removed": gone, "read_stopped": None, "bytes_by_type": None})  # fmt: skip
    return out


def build_release(out: Path, docs: int, ledger_rows: int, seed: int, paragraphs: int = 9) -> dict[str, Any]:
    """Write the release under `out` (its own data root) and return what the measurements need."""
    import numpy as np
    import polars as pl

    from pipeline.config import DedupConfig
    from pipeline.tables import PartWriter, file_sha256

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    pool = _pool(random.Random(seed))
    domains = _domain_names()
    release = out / "release"
    release.mkdir(parents=True)
    tables = ("documents", "signatures", "ledger", "optout_evidence")
    writers = {t: PartWriter(release, t, rows_per_file=250_000) for t in tables}
    num_perm = DedupConfig().bands * DedupConfig().rows_per_band
    clusters: list[str] = []
    kept_samples = []
    sample: dict[str, Any] = {}
    text_chars = 0
    for start in range(0, docs, CHUNK):
        frame = _documents(start, min(CHUNK, docs - start), rng, pool, domains, paragraphs)
        writers["documents"].write(frame)
        sig = rng.integers(0, 2**32 - 1, (frame.height, num_perm), dtype=np.uint32)
        writers["signatures"].write(
            pl.DataFrame(
                {"id": frame["id"], "minhash": pl.Series(sig.reshape(-1)).reshape((frame.height, num_perm))}
            ).with_columns(pl.col("minhash").cast(pl.List(pl.UInt32)))
        )
        text_chars += int(frame["text"].str.len_chars().sum())
        clusters.extend(frame.filter(pl.col("dup"))["id"].head(2_000).to_list())
        kept_samples.append(frame.select("id", "url", "domain").gather_every(20))
        if not sample:
            row = frame.row(12_345 % frame.height, named=True)
            sample = {"url": row["url"], "id": row["id"], "text": row["text"].split()[5:8],
                      "paragraph": row["text"].split("\n\n")[1]}  # fmt: skip
        del frame
    ledger = _ledger(ledger_rows, rng, pool, domains, clusters or ["none"])
    writers["ledger"].write(ledger)
    evidence = _evidence(rng, domains, ledger, pl.concat(kept_samples))
    writers["optout_evidence"].write(evidence)
    files = []
    for writer in writers.values():
        for f in writer.close():
            path = release / f["path"]
            version = 2 if f["table"] in ("documents", "ledger") else 1  # v2: url_key stored (format 3)
            files.append({**f, "schema_version": version, "bytes": path.stat().st_size, "sha256": file_sha256(path)})
    removed_by_stage: dict[str, dict[str, int]] = {}
    for stage, reason, n in ledger.group_by("stage", "reason").len().iter_rows():
        removed_by_stage.setdefault(stage, {})[reason] = n
    stages, remaining = [], docs + ledger.height
    for stage in STAGES:
        gone = sum(removed_by_stage.get(stage, {}).values())
        stages.append({"stage": stage, "in": remaining, "removed": gone, "out": remaining - gone})
        remaining -= gone
    optout = ledger.filter(pl.col("stage") == "optout")
    by_signal = dict(optout.group_by("reason").len().iter_rows())  # keyed by reason, as pipeline/release.py
    manifest = {
        "format": "apertura-release",
        "format_version": 3,  # identity columns stored; no commitments (format 4), which no page measured needs
        "release_id": f"bench-{docs}",
        "pipeline_version": VERSION,
        "software": {},
        "config": {"dedup": DedupConfig().model_dump(mode="json")},
        "config_hash": CONFIG_HASH,
        "inputs": bench_inputs(docs, ledger.height),
        "counts": {
            "inputs": docs + ledger.height,
            "kept": docs,
            "removed": ledger.height,
            "removed_by_stage": removed_by_stage,
            "stages": stages,
        },
        "files": sorted(files, key=lambda f: f["path"]),
        "optout": {
            "enabled": True,
            "agents": ["GPTBot", "CCBot", "Google-Extended", "ClaudeBot"],
            "snapshots": [],
            "policy_files": int((evidence["kind"] == "policy_file").sum()),
            "origins": int(evidence.filter(pl.col("kind") == "policy_file")["origin"].n_unique()),
            "removed": optout.height,
            "removed_by_signal": by_signal,
        },
    }
    (release / "manifest.json").write_text(json.dumps(manifest, indent=1))
    size = sum(f["bytes"] for f in files)
    busiest = ledger.filter(pl.col("stage") == "optout").group_by("domain").len().sort("len").row(-1)[0]
    mid_domain = domains[200]  # a mid-sized site: a few hundred documents
    return {
        "seconds": time.perf_counter() - started,
        "text_chars": text_chars // max(1, docs),
        "bytes": size,
        "peak_rss_mb": rss_mb(),
        "documents": docs,
        "ledger": ledger.height,
        "evidence": evidence.height,
        "domain": mid_domain,
        "url": sample["url"],
        "doc_id": sample["id"],
        "url_part": "/article/12345",
        "text_part": " ".join(sample["text"]),
        "paragraph": sample["paragraph"],
        "optout_domain": busiest,
        "optout_url": optout["url"][0],
    }


# --------------------------------------------------------------------------------------------- measure


def measure(root: str, info: dict[str, Any], variant: str = "") -> list[dict[str, Any]]:
    """Every page's first render and the interactions, in this (fresh) process. `variant` ('index' or
    'no_index') is appended to every figure's name: the same script measures both answers."""
    os.environ["APERTURA_DATA_ROOT"] = root
    os.environ["APERTURA_RELEASE"] = "release"
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    results: list[dict[str, Any]] = []

    from streamlit.components.v2.component_manager import BidiComponentManager

    # A server scans the installed packages for custom components once, when it starts (streamlit's
    # runtime/runtime.py); AppTest scans on each instance's first run (~1 s: the metadata of every installed
    # package), which would be counted in every first render below. One scan, untimed, shared by every page.
    components = BidiComponentManager()
    components.discover_and_register_components(start_file_watching=False)

    def page(name: str, **params: str) -> AppTest:
        at = AppTest.from_file(str(APP / "views" / f"{name}.py"), default_timeout=120)
        at._bidi_component_manager = components
        for key, value in params.items():
            at.query_params[key] = value
        return at

    def timed(name: str, kind: str, run) -> AppTest:
        t0 = time.perf_counter()
        at = run()
        seconds = time.perf_counter() - t0
        problem = repr(at.exception[0].value)[:300] if at.exception else None
        messages = [m.value for kind in ("error", "warning", "success", "info", "caption") for m in getattr(at, kind)]
        target = FIRST_RENDER_TARGET_S if kind == "first_render" else FILTER_TARGET_S
        results.append(
            {"name": f"app_{kind}_{name}" + (f"_{variant}" if variant else ""), "value": round(seconds, 3),
             "unit": "s", "target": target,
             "ok": seconds < target and problem is None, "error": problem, "peak_rss_mb": round(rss_mb(), 1),
             "shown": messages[0][:120] if messages else None, "load_average": round(os.getloadavg()[0], 2)}
        )  # fmt: skip
        if name in TEXT_INTERACTIONS and variant != "index":
            at = answer_ready(name, at, t0)
        return at

    def answer_ready(name: str, at: AppTest, t0: float) -> AppTest:
        """A text without index is scanned in the background: the render above returned with the status. Waits for
        the scans, reruns (what the page's poll does, every `common.SCAN_POLL_S` in a browser: add up to that), and
        records when the answer is shown, from the interaction's start: `app_answer_ready_<name>`, informational."""
        while SCANNING in "\n".join(m.value for m in at.info):
            for job in list(common._scans.values()):
                job.future.exception()
            at = at.run()
        seconds = time.perf_counter() - t0
        problem = repr(at.exception[0].value)[:300] if at.exception else None
        results.append(
            {"name": f"app_answer_ready_{name}" + (f"_{variant}" if variant else ""), "value": round(seconds, 3),
             "unit": "s", "target": None, "ok": problem is None, "error": problem,
             "peak_rss_mb": round(rss_mb(), 1), "shown": None, "load_average": round(os.getloadavg()[0], 2)}
        )  # fmt: skip
        return at

    # Imports (streamlit, altair, duckdb, polars) and the locked-down connection, untimed: a running server
    # has them already. The connection is a cache_resource, kept; every query result cache is cleared below.
    t_open = time.perf_counter()
    page("overview").run()
    # ... and the background measurement the release's opening started (the overview's Text metric, drawn when
    # known) is let finish: a server that has been up a few seconds. Timed on its own below.
    from audit_app import common, membership, queries

    common.warm_kernels().join()  # app.py starts it with the server (the pages run alone here): loaded by now
    opened = common._open(str(queries.resolve_release("release", Path(root))), str(Path(root).resolve()))
    # The Reports page just after the release opened, while its EU summary is computed in the background (the first
    # run of a variant: `_measure_runs` removes the kept summary) or read back from the user cache (later runs).
    st.cache_data.clear()
    timed("reports_at_open", "first_render", page("reports").run)
    for name in common.BACKGROUND_QUERIES:  # informational: from the opening to each background figure's end
        opened.background(name, getattr(queries, name)).result()
        results.append(
            {"name": f"app_background_{name}_from_open" + (f"_{variant}" if variant else ""),
             "value": round(time.perf_counter() - t_open, 3), "unit": "s", "target": None, "ok": True,
             "error": None, "peak_rss_mb": round(rss_mb(), 1), "shown": None,
             "load_average": round(os.getloadavg()[0], 2)}
        )  # fmt: skip
    # The membership index is opened once per release too (a cache_resource, like the connection): timed here,
    # informational, so the first renders below measure pages, not the one-off opening.
    t0 = time.perf_counter()
    stamp = membership.stamp(opened.path)
    state = common._open_index(str(opened.path), stamp) if stamp else None
    if variant == "index":
        if state is None or not state.usable:
            raise RuntimeError(f"the bench release's index cannot be opened: {state and state.problem}")
        results.append(
            {"name": "app_index_open", "value": round(time.perf_counter() - t0, 3), "unit": "s", "target": None,
             "ok": True, "error": None, "peak_rss_mb": round(rss_mb(), 1), "shown": None}
        )  # fmt: skip

    def first(name: str, **params: str) -> AppTest:
        st.cache_data.clear()
        return timed(name, "first_render", page(name, **params).run)

    for name in ("overview", "search", "removals", "dedup", "compliance", "am_i_in", "rights_holder", "releases",
                 "reports"):  # fmt: skip
        first(name)
    first("document", doc=info["doc_id"])

    # The overview's Text metric, measured in the background: the one query that reads every text. Informational.
    rel = queries.open_release("release", Path(root))
    t0 = time.perf_counter()
    queries.text_bytes(rel)
    results.append(
        {"name": "app_background_overview_text_bytes" + (f"_{variant}" if variant else ""),
         "value": round(time.perf_counter() - t0, 3), "unit": "s",
         "target": None, "ok": True, "error": None, "peak_rss_mb": round(rss_mb(), 1), "shown": None}
    )  # fmt: skip

    st.cache_data.clear()
    at = page("search").run()
    at.text_input(key="f_domain").input(info["domain"])
    at = timed("search_domain", "filter", at.run)
    at.text_input(key="f_domain").input("")
    at.text_input(key="f_url").input(info["url_part"])
    at = timed("search_url_substring", "filter", at.run)
    at.text_input(key="f_url").input("")
    at.multiselect(key="f_lang").set_value(["de"])
    at = timed("search_language", "filter", at.run)
    at.multiselect(key="f_lang").set_value([])
    at.text_input(key="f_text").input(info["text_part"])
    at = timed("search_text_substring", "filter", at.run)
    at.text_input(key="f_text").input("no document contains this phrase zq")
    at = timed("search_text_substring_no_match", "filter", at.run)
    at.text_input(key="f_text").input(info["text_part"])
    at.multiselect(key="f_lang").set_value(["de"])
    timed("search_text_language", "filter", at.run)

    at = page("am_i_in").run()
    at.text_input(key="q_domain").input(info["domain"])
    at = timed("am_i_in_domain", "filter", at.run)
    at.text_input(key="q_domain").input(info["optout_domain"])
    at = timed("am_i_in_domain_opted_out", "filter", at.run)
    at.text_input(key="q_domain").input("")
    at.run()
    at.text_input(key="q_url").input(info["url"])
    at = timed("am_i_in_url", "filter", at.run)
    at.text_input(key="q_url").input(info["optout_url"])
    timed("am_i_in_url_opted_out", "filter", at.run)

    at.text_input(key="q_url").input("")
    at.text_area(key="q_text").input(info["text_part"])
    at = timed("am_i_in_text", "filter", at.run)
    at.text_area(key="q_text").input(info["paragraph"])
    at = timed("am_i_in_text_paragraph", "filter", at.run)
    at.text_area(key="q_text").input("Zebra quantum marmalade flew over seventeen purple bicycles beyond the harbour.")
    timed("am_i_in_text_absent", "filter", at.run)

    # The rights holders' page asks the same engine (pipeline/index/answer.py) about every release of the directory
    # (one here), then the registry, and offers the proof download when the release has commitments.
    # (The "Am I in?" checks above asked the engine the same questions: its cached answers are cleared first, so
    # these figures are the engine's, as for a person who opens this page first.)
    at = page("rights_holder").run()
    for kind, key, value, name in (("domain", "rh_domain", info["domain"], "domain"), ("url", "rh_url", info["url"],
                                   "url"), ("url", "rh_url", info["optout_url"], "url_opted_out"),
                                   ("text", "rh_text", info["paragraph"], "text_paragraph")):  # fmt: skip
        at.radio(key="rh_kind").set_value(kind)
        at.run()
        (at.text_area if kind == "text" else at.text_input)(key=key).input(value)
        common._answer.clear()
        common._scans.clear()  # the background scans' kept answers too
        at = timed(f"rights_holder_{name}", "filter", at.run)

    at = page("compliance").run()
    at.text_input(key="optout_domain").input(info["optout_domain"])
    timed("compliance_domain_drill_down", "filter", at.run)

    at = page("removals").run()
    options = at.selectbox(key="reason").options
    at.selectbox(key="reason").set_value(options[-1])
    timed("removals_reason", "filter", at.run)
    return results


# --------------------------------------------------------------------------------------------- main


def _median(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per figure: the median over the runs as `value` (the machine may be shared), every run in `runs`."""
    merged = []
    for figures in zip(*runs, strict=True):
        values = sorted(f["value"] for f in figures)
        row = {**figures[0], "value": values[len(values) // 2], "runs": [f["value"] for f in figures]}
        row["peak_rss_mb"] = max(f["peak_rss_mb"] for f in figures)
        if "load_average" in row:
            row["load_average"] = [f["load_average"] for f in figures]
        fast = row["target"] is None or row["value"] < row["target"]
        row["ok"] = fast and all(f["error"] is None for f in figures)
        merged.append(row)
    return merged


def _build_in_child(out: str, docs: int, ledger: int, seed: int, paragraphs: int) -> dict[str, Any]:
    return build_release(Path(out), docs, ledger, seed, paragraphs)


def _index_in_child(release: str) -> dict[str, Any]:
    """`build_index` on the bench release, in its own process (so its peak RSS is its own)."""
    from pipeline.index import build_index

    started = time.perf_counter()
    info = build_index(release, force=True)
    size = sum(f.stat().st_size for f in (Path(release) / "index").rglob("*") if f.is_file())
    return {"seconds": time.perf_counter() - started, "bytes": size, "peak_rss_mb": rss_mb(),
            "stages": info.get("build_seconds", {})}  # fmt: skip


def _measure_runs(out: Path, info: dict[str, Any], variant: str, repeat: int) -> list[dict[str, Any]]:
    from audit_app.queries import APP_SUMMARY_OPTIONS
    from pipeline.reports.eu_summary.cache import entry_path

    # The app keeps each release's EU summary in the user cache: a variant's first run starts without it (a release
    # opened for the first time), later runs find it (the same release opened again).
    entry_path(out / "release", APP_SUMMARY_OPTIONS).unlink(missing_ok=True)
    runs: list[list[dict[str, Any]]] = []
    for _ in range(max(1, repeat)):  # each run in a fresh process: cold query caches, its own peak RSS
        with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
            runs.append(pool.submit(measure, str(out), info, variant).result())
    return _median(runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--ledger", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--paragraphs", type=int, default=9, help="paragraphs per text, ~380 characters each (9: ~3.5k, FineWeb-like)"
    )
    parser.add_argument("--out", help="build here (kept) instead of a temporary directory")
    parser.add_argument("--reuse", action="store_true", help="measure an existing --out release, do not build")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--repeat", type=int, default=3, help="measurement runs; each figure is their median")
    parser.add_argument(
        "--no-index", dest="index", action="store_false", help="no membership index: measure the DuckDB paths only"
    )
    args = parser.parse_args(argv)
    command = "python -m bench.app_scale " + " ".join(sys.argv[1:] if argv is None else argv)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="apertura-app-scale-"))
    spawn = mp.get_context("spawn")
    rows: list[dict[str, Any]] = []
    try:
        info_path = out / "bench-info.json"
        if args.reuse and info_path.is_file():
            info = json.loads(info_path.read_text())
        else:
            if out.exists() and any(out.iterdir()):
                shutil.rmtree(out)
            out.mkdir(parents=True, exist_ok=True)
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                info = pool.submit(
                    _build_in_child, str(out), args.docs, args.ledger, args.seed, args.paragraphs
                ).result()
            info_path.write_text(json.dumps(info))
            rows.append(
                {"name": "app_scale_build", "value": round(info["seconds"], 1), "unit": "s", "target": None,
                 "ok": True, "peak_rss_mb": round(info["peak_rss_mb"], 1), "documents": info["documents"],
                 "ledger_rows": info["ledger"], "evidence_rows": info["evidence"],
                 "release_mb": round(info["bytes"] / 1e6, 1),
                 "text_chars_per_doc": info["text_chars"]}
            )  # fmt: skip
        index_dir = out / "release" / "index"
        if args.index and not index_dir.is_dir():
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                built = pool.submit(_index_in_child, str(out / "release")).result()
            rows.append(
                {"name": "app_scale_index_build", "value": round(built["seconds"], 1), "unit": "s", "target": None,
                 "ok": True, "peak_rss_mb": round(built["peak_rss_mb"], 1), "documents": info["documents"],
                 "index_mb": round(built["bytes"] / 1e6, 1), "stages": built["stages"]}
            )  # fmt: skip
        if args.index:
            rows.extend(_measure_runs(out, info, "index", args.repeat))
            aside = out / "index.aside"
            os.replace(index_dir, aside)  # the same release without its index: the DuckDB fallback paths
            try:
                rows.extend(_measure_runs(out, info, "no_index", args.repeat))
            finally:
                os.replace(aside, index_dir)
        else:
            rows.extend(_measure_runs(out, info, "", args.repeat))
    finally:
        if not args.out and not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    for row in rows:
        row["command"] = command
        print(json.dumps(row), flush=True)
    failed = [r for r in rows if not r["ok"]]
    width = max(len(r["name"]) for r in rows)
    print(f"\n{'figure':<{width}}  {'value':>8}  target  peak RSS  ok", file=sys.stderr)
    for r in rows:
        target = f"< {r['target']:.0f} s" if r["target"] else "     "
        rss = f"{r['peak_rss_mb']:>6.0f} MB"
        print(
            f"{r['name']:<{width}}  {r['value']:>6.2f} s  {target}  {rss}  {'ok' if r['ok'] else 'FAIL'}",
            file=sys.stderr,
        )
    print(f"\n{'PASS' if not failed else f'FAIL: {len(failed)} figures over target'}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
