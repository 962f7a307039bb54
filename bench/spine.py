"""The pipeline's spine, stage by stage and end to end, on a planted synthetic WARC corpus.

    .venv/bin/python -m bench.spine [--mb 20] [--workers 1] [--extractor trafilatura|resiliparse] [--out DIR]

1. Writes `--files` gzip WARCs of about `--mb` MB (10^6 bytes) in total, deterministically from `--seed`:
   `pipeline.synthetic.make_page` articles in en/de/fr/it (each response followed by its request record,
   as crawlers write them), with planted exact duplicates (the same article on a mirror site with other
   boilerplate), near duplicates (1-4 words changed), short pages, link-list/cookie-banner boilerplate
   pages, non-HTML records and 404s. Record ids and dates are seeded, so the files are byte-identical
   across runs.
2. Per stage, each in a fresh spawned process (so its peak RSS is its own), batches passed between
   stages as Parquet part files with the executor's batch boundaries and only `apply` timed:
   reading (`read_input`), every step of `pipeline.steps.DEFAULT`, `add_dedup_keys`, `find_duplicates`.
3. End to end: `pipeline.cli.build` into a fresh release (docs/s and MB/s of WARC; peak RSS of the
   process and of its worker processes), conservation from the manifest, and recall of the planted
   duplicates read back from the release (documents + ledger).
4. `add_dedup_keys` against `datasketch.MinHash.generator` on the same extracted texts and batches
   (best of `--repeat`); the baseline is fed the same normalised text and word 5-gram shingles with
   `xxhash.xxh32_intdigest`, as in bench/minhash.py, and a sample is checked to be bit-identical with
   datasketch given our `shingle_hash`.

Prints one JSON line per figure on stdout ({name, value, unit, baseline, baseline_value, ratio,
peak_rss_mb, command}, plus a few extra fields), then a table on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing as mp
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.helpers.warcs import Page

MB = 1_000_000
# Share of generated pages per planted kind (the rest are ordinary articles); none before MIN_ORIGINALS articles.
SHARES: dict[str, float] = {
    "exact": 0.05,
    "near": 0.05,
    "short": 0.04,
    "boilerplate": 0.03,
    "non_html": 0.015,
    "not_found": 0.015,
}
MIN_ORIGINALS = 20
WARC_DATE = "2025-06-01T00:00:00Z"


# --------------------------------------------------------------------------------------------- corpus


@dataclass
class Corpus:
    """What was written, known by construction."""

    files: list[str]
    bytes: int
    pages: Counter[str] = field(default_factory=Counter)  # eligible (response) records per kind
    duplicate_of: dict[str, tuple[str, str]] = field(default_factory=dict)  # dup url -> (kind, original url)

    @property
    def records(self) -> int:
        return sum(self.pages.values())


def _date(rng: random.Random) -> str:
    """A fetch time in 2025."""
    return (
        f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        f"T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z"
    )


def _pick_kind(rng: random.Random, originals: int) -> str:
    """Which kind of page comes next (always an article until there are originals to copy)."""
    r = rng.random()
    if originals < MIN_ORIGINALS:
        return "article"
    acc = 0.0
    for kind, share in SHARES.items():
        acc += share
        if r < acc:
            return kind
    return "article"


def planted_pages(seed: int) -> Iterator[tuple[Page, str, str | None]]:
    """Endless (Page, kind, original url or None), deterministic in `seed`."""
    from pipeline.synthetic import GRAMMARS, LANGUAGES, SyntheticPage, make_page, sentence
    from tests.helpers.warcs import Page

    rng = random.Random(seed)
    originals: list[Any] = []
    i = 0
    while True:
        i += 1
        kind = _pick_kind(rng, len(originals))
        date = _date(rng)
        lang = rng.choice(LANGUAGES)
        host = f"{lang}.site{rng.randrange(200):03d}.test"
        if kind == "article":
            page = make_page(seed, f"http://{host}/news/{i}", lang, paragraphs=rng.randint(3, 8))
            originals.append(page)
            yield Page(page.url, page.html(), date=date), kind, None
        elif kind == "exact":  # syndicated: same article, the mirror's own navigation and footer
            orig = rng.choice(originals)
            mirror = rng.randrange(20)
            html = (
                orig.html()
                .replace('<a href="/news">News</a>', f'<a href="/m{mirror}/archive">Archive</a>')
                .replace("© Example Media", f"© Mirror {mirror} Syndication")
            )
            yield Page(f"http://mirror{mirror:02d}.test/copy/{i}", html, date=date), kind, orig.url
        elif kind == "near":  # reposted with 1-4 words changed
            orig = rng.choice(originals)
            paragraphs = list(orig.paragraphs)
            nouns = GRAMMARS[orig.language]["noun"]
            for _ in range(rng.randint(1, 4)):
                j = rng.randrange(len(paragraphs))
                words = paragraphs[j].split(" ")
                pos = rng.randrange(len(words))
                # a different word even after normalisation (case, the sentence's full stop)
                words[pos] = rng.choice([n for n in nouns if n.lower() != words[pos].rstrip(".").lower()])
                paragraphs[j] = " ".join(words)
            url = f"http://{orig.language}.repost{rng.randrange(50):02d}.test/p/{i}"
            html = replace(orig, url=url, paragraphs=tuple(paragraphs)).html()
            yield Page(url, html, date=date), kind, orig.url
        elif kind == "short":
            text = " ".join(sentence(rng, lang) for _ in range(rng.randint(1, 3)))
            page = SyntheticPage(f"http://{host}/brief/{i}", lang, sentence(rng, lang).rstrip("."), (text,))
            yield Page(page.url, page.html(), date=date), kind, None
        elif kind == "boilerplate":
            nouns = GRAMMARS[lang]["noun"]
            links = "\n".join(
                f'<li><a href="/section/{k}">{rng.choice(nouns).capitalize()}</a></li>'
                for k in range(rng.randint(10, 40))
            )
            html = (
                f'<!DOCTYPE html>\n<html lang="{lang}"><head><title>Index {i}</title></head><body>\n'
                '<nav><a href="/">Home</a> | <a href="/news">News</a> | <a href="/contact">Contact</a></nav>\n'
                '<div id="cookies">This website uses cookies to improve your experience. <button>Accept</button>'
                f'</div>\n<ul class="menu">\n{links}\n</ul>\n'
                "<footer>© Example Media · <a href='/imprint'>Imprint</a> · Privacy policy</footer>\n</body></html>\n"
            )
            yield Page(f"http://{host}/index/{i}", html, date=date), kind, None
        elif kind == "non_html":
            if rng.random() < 0.5:
                body, ctype, path = b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randint(500, 8000)), "image/png", "img.png"
            else:
                body, ctype, path = b"%PDF-1.4\n" + rng.randbytes(rng.randint(1000, 8000)), "application/pdf", "a.pdf"
            yield Page(f"http://{host}/files/{i}/{path}", body, content_type=ctype, date=date), kind, None
        else:  # not_found
            html = (
                "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1>"
                "<p>The requested URL was not found on this server.</p></body></html>"
            )
            yield Page(f"http://{host}/news/{i}", html, status=404, date=date), kind, None


def write_corpus(directory: Path, mb: float, files: int, seed: int) -> Corpus:
    """Write `files` gzip WARCs of about `mb` MB in total; record ids and dates come from `seed`."""
    from warcio.warcwriter import WARCWriter

    from tests.helpers.warcs import page_record, request_record

    directory.mkdir(parents=True, exist_ok=True)
    ids = random.Random(f"{seed}-record-ids")
    pages = planted_pages(seed)
    corpus = Corpus(files=[], bytes=0)
    target = mb * MB / files

    def write(writer: WARCWriter, record: Any) -> None:
        record.rec_headers.replace_header("WARC-Record-ID", f"<urn:uuid:{uuid.UUID(int=ids.getrandbits(128))}>")
        writer.write_record(record)

    for n in range(files):
        path = directory / f"bench-{n:03d}.warc.gz"
        with open(path, "wb") as out:
            writer = WARCWriter(out, gzip=True)
            info = writer.create_warcinfo_record(path.name, {"software": "apertura bench.spine", "seed": str(seed)})
            info.rec_headers.replace_header("WARC-Date", WARC_DATE)
            write(writer, info)
            while out.tell() < target:
                page, kind, original = next(pages)
                write(writer, page_record(writer, page))
                write(writer, request_record(writer, page))
                corpus.pages[kind] += 1
                if original is not None:
                    corpus.duplicate_of[page.url] = (kind, original)
        corpus.files.append(str(path))
        corpus.bytes += path.stat().st_size
    return corpus


# ------------------------------------------------------------------------------------ measured pieces


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak RSS in MB; RUSAGE_CHILDREN gives the largest reaped descendant, not their sum."""
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def _config(config_json: str) -> Any:
    """The RunConfig passed to a measurement process as JSON."""
    from pipeline.config import RunConfig

    return RunConfig.model_validate_json(config_json)


def stage_read(specs: list[str], config_json: str, out_dir: str) -> dict[str, Any]:
    """`read_input` over every file; only the reader's own work (pulling batches) is timed."""
    from pipeline.sources.inputs import read_input

    config = _config(config_json)
    out = Path(out_dir)
    out.mkdir(parents=True)
    seconds, rows, size, types = 0.0, 0, 0, Counter()
    for index, spec in enumerate(specs):
        start = time.perf_counter()
        batches, report = read_input(spec, batch_size=config.batch_size, read_config=config.read)
        it = iter(batches)
        batch = next(it, None)
        seconds += time.perf_counter() - start
        n = 0
        while batch is not None:
            batch.write_parquet(out / f"{index:03d}-{n:06d}.parquet")
            rows += len(batch)
            n += 1
            start = time.perf_counter()
            batch = next(it, None)
            seconds += time.perf_counter() - start
        size += report.bytes
        types.update(report.records_by_type)
    return {"seconds": seconds, "docs": rows, "bytes": size, "records_by_type": dict(types)}


def stage_step(stage: str, config_json: str, in_dir: str, out_dir: str) -> dict[str, Any]:
    """One step of `pipeline.steps.DEFAULT` over every part the previous stage kept; only `apply` is timed."""
    import polars as pl

    from pipeline import steps

    config = _config(config_json)
    step = steps.resolve(stage)(config)  # set-up (imports) not timed
    out = Path(out_dir)
    out.mkdir(parents=True)
    seconds, docs, kept, removed = 0.0, 0, 0, Counter()
    for part in sorted(Path(in_dir).glob("*.parquet")):
        batch = pl.read_parquet(part)
        start = time.perf_counter()
        result = step.apply(batch)
        seconds += time.perf_counter() - start
        docs += len(batch)
        kept += len(result.kept)
        removed.update(result.removed["reason"].to_list())
        if not result.kept.is_empty():
            result.kept.write_parquet(out / part.name)
    return {"seconds": seconds, "docs": docs, "kept": kept, "removed": dict(removed)}


def _text_parts(in_dir: str) -> list[tuple[str, Any]]:
    """(part name, batch with offset, url and text) for every part of a stage directory."""
    import polars as pl

    columns = ["warc_record_offset", "url", "text"]
    return [(p.name, pl.read_parquet(p, columns=columns)) for p in sorted(Path(in_dir).glob("*.parquet"))]


def stage_dedup_keys(config_json: str, in_dir: str, out_dir: str, repeat: int) -> dict[str, Any]:
    """`add_dedup_keys` per batch (best of `repeat`, after one warm-up batch); writes the keys."""
    import polars as pl

    from bench.minhash import _best_time
    from pipeline.fingerprints import add_dedup_keys

    cfg = _config(config_json).dedup
    parts = _text_parts(in_dir)
    add_dedup_keys(parts[0][1].head(8), cfg)  # warm-up: datasketch import, permutation parameters
    keyed: list[Any] = []

    def run() -> None:
        keyed[:] = [add_dedup_keys(batch, cfg) for _, batch in parts]

    seconds = _best_time(run, repeat)
    out = Path(out_dir)
    out.mkdir(parents=True)
    for (name, _), frame in zip(parts, keyed, strict=True):
        index = int(name.split("-")[0])
        frame.select(
            pl.format("{}-{}", pl.lit(index), pl.col("warc_record_offset")).alias("id"),
            (pl.lit(index, pl.Int64) * (1 << 40) + pl.col("warc_record_offset")).alias("order"),
            "url",
            "norm_sha256",
            "minhash",
        ).write_parquet(out / name)
    return {"seconds": seconds, "docs": sum(len(b) for _, b in parts)}


def stage_find_duplicates(config_json: str, in_dir: str, out_file: str) -> dict[str, Any]:
    """`find_duplicates` once over every candidate's keys (read before timing)."""
    import polars as pl

    from pipeline.fingerprints import find_duplicates

    cfg = _config(config_json).dedup
    candidates = pl.read_parquet(sorted(Path(in_dir).glob("*.parquet")))
    start = time.perf_counter()
    found = find_duplicates(candidates, cfg)
    seconds = time.perf_counter() - start
    urls = candidates.select("id", "url")
    found.join(urls, on="id", how="left").join(
        urls.rename({"id": "duplicate_of", "url": "duplicate_of_url"}), on="duplicate_of", how="left"
    ).write_parquet(out_file)
    removed = Counter(found["reason"].drop_nulls().to_list())
    return {
        "seconds": seconds,
        "docs": len(candidates),
        "kept": len(candidates) - removed.total(),
        "removed": dict(removed),
    }


def _shingles(text: str, k: int) -> list[bytes]:
    """Word k-grams of normalised text, as bench/minhash.py feeds datasketch (and as our keys define them)."""
    words = text.split(" ") if text else []
    if len(words) < k:
        return [" ".join(words).encode()] if words else []
    return [" ".join(words[i : i + k]).encode() for i in range(len(words) - k + 1)]


def datasketch_signatures(config_json: str, in_dir: str, repeat: int) -> dict[str, Any]:
    """datasketch `MinHash.generator` on the same batches (normalise + shingle + sign), best of `repeat`.

    Also checks, on a sample, that datasketch given our `shingle_hash` yields exactly our signatures.
    """
    import numpy as np
    import xxhash
    from datasketch import MinHash

    from bench.minhash import _best_time
    from pipeline.fingerprints import SCHEME, add_dedup_keys, normalise, shingle_hash

    cfg = _config(config_json).dedup
    num_perm, k = cfg.bands * cfg.rows_per_band, cfg.ngram_size
    parts = [batch["text"] for _, batch in _text_parts(in_dir)]

    def run() -> None:
        for texts in parts:
            per_doc = [_shingles(t, k) for t in normalise(texts).fill_null("").to_list()]
            for m in MinHash.generator(
                per_doc, num_perm=num_perm, seed=cfg.seed, hashfunc=xxhash.xxh32_intdigest, scheme=SCHEME
            ):
                m.hashvalues  # noqa: B018 - the signature is the product

    seconds = _best_time(run, repeat)
    sample = parts[0].head(64)
    ours = add_dedup_keys(sample.to_frame(), cfg)["minhash"].to_list()
    theirs = [
        m.hashvalues
        for m in MinHash.generator(
            [_shingles(t, k) for t in normalise(sample).fill_null("").to_list()],
            num_perm=num_perm,
            seed=cfg.seed,
            hashfunc=shingle_hash,
            scheme=SCHEME,
        )
    ]
    identical = all(np.array_equal(np.asarray(a, np.uint32), b) for a, b in zip(ours, theirs, strict=True))
    return {
        "seconds": seconds,
        "docs": sum(len(t) for t in parts),
        "identical_sample": identical,
        "sample": len(sample),
    }


def end_to_end(specs: list[str], config_json: str, out_dir: str, workers: int) -> dict[str, Any]:
    """`pipeline.cli.build` into a new release; peak RSS of this process and of its worker processes."""
    from pipeline.cli import build

    config = _config(config_json)
    start = time.perf_counter()
    manifest = build(specs, config, Path(out_dir), workers=workers)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "counts": manifest["counts"],
        "inputs": manifest["inputs"],
        "peak_rss_mb_workers": _peak_rss_mb(resource.RUSAGE_CHILDREN),
    }


def _child(module: str, target: str, args: tuple, queue: Any) -> None:
    """Measurement process body: run `module.target`, send its result (or the traceback) back."""
    try:
        result = getattr(importlib.import_module(module), target)(*args)
        queue.put({**result, "peak_rss_mb": _peak_rss_mb()})
    except BaseException:
        queue.put({"error": traceback.format_exc()})
        raise


def measure(target: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run one measured piece (a module-level function of any bench module) in a fresh spawned process,
    so its imports and peak RSS are its own."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target.__module__, target.__name__, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    if "error" in result or proc.exitcode:
        raise SystemExit(f"{target.__name__} failed (exit {proc.exitcode}):\n{result.get('error', '')}")
    return result


# --------------------------------------------------------------------------------------------- checks


def _jaccard(a: str | None, b: str | None, k: int) -> float | None:
    """Exact Jaccard similarity of the two texts' shingle sets (normalised as the dedup keys are)."""
    import polars as pl

    from pipeline.fingerprints import normalise

    if a is None or b is None:
        return None
    x, y = (set(_shingles(t, k)) for t in normalise(pl.Series([a, b])).to_list())
    return len(x & y) / len(x | y) if x | y else 1.0


def planted_recall(release: Path, corpus: Corpus, threshold: float = 0.8) -> dict[str, dict[str, int]]:
    """Per planted kind: planted, found (in its original's dedup cluster), as_planted (with the planted reason).

    For near duplicates also the planted pairs whose true Jaccard (of the released/ledger texts) is at
    least `threshold` and how many of those were found. `unplanted` counts dedup removals of pages
    that were not planted duplicates.
    """
    import polars as pl

    manifest = json.loads((release / "manifest.json").read_text())
    paths = {
        t: [str(release / f["path"]) for f in manifest["files"] if f["table"] == t] for t in ("documents", "ledger")
    }
    docs = pl.read_parquet(paths["documents"], columns=["id", "url", "dedup_cluster_id", "text"])
    ledger = pl.read_parquet(paths["ledger"], columns=["url", "stage", "reason", "duplicate_of", "text"])
    cluster = dict(docs.select("url", pl.coalesce("dedup_cluster_id", "id")).iter_rows())
    dedup = ledger.filter(pl.col("stage") == "dedup")
    reason = dict(dedup.select("url", "reason").iter_rows())
    cluster |= dict(dedup.select("url", "duplicate_of").iter_rows())
    text = dict(pl.concat([docs.select("url", "text"), ledger.select("url", "text")]).iter_rows())
    k = manifest["config"]["dedup"]["ngram_size"]
    out = {kind: Counter({"planted": 0, "found": 0, "as_planted": 0}) for kind in ("exact", "near")}
    for url, (kind, original) in corpus.duplicate_of.items():
        found = url in cluster and cluster[url] == cluster.get(original)
        out[kind].update(planted=1, found=int(found), as_planted=int(found and reason.get(url) == f"dedup_{kind}"))
        if kind == "near":
            similar = (_jaccard(text.get(url), text.get(original), k) or 0.0) >= threshold
            out[kind].update(above_threshold=int(similar), found_above_threshold=int(found and similar))
    out["unplanted"] = Counter(removed=sum(1 for url in reason if url not in corpus.duplicate_of))
    return {kind: dict(c) for kind, c in out.items()}


# --------------------------------------------------------------------------------------------- output


def figure(
    name: str,
    value: float,
    unit: str,
    peak_rss_mb: float | None,
    command: str,
    baseline: str | None = None,
    baseline_value: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One result line; `ratio` is value / baseline_value when there is a peer."""
    return {
        "name": name,
        "value": round(value, 3) if abs(value) < 10 else round(value, 1),
        "unit": unit,
        "baseline": baseline,
        "baseline_value": round(baseline_value, 1) if baseline_value is not None else None,
        "ratio": round(value / baseline_value, 2) if baseline_value else None,
        "peak_rss_mb": round(peak_rss_mb, 1) if peak_rss_mb is not None else None,
        "command": command,
        **extra,
    }


def print_table(rows: list[dict[str, Any]], notes: list[str]) -> None:
    """A short human-readable summary on stderr."""
    header = f"{'figure':<34} {'value':>12} {'unit':<9} {'baseline':>10} {'ratio':>6} {'peak RSS MB':>11}"
    lines = [header, "-" * len(header)]
    for r in rows:
        base = "" if r["baseline_value"] is None else f"{r['baseline_value']:,.1f}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        rss = "" if r["peak_rss_mb"] is None else f"{r['peak_rss_mb']:,.0f}"
        lines.append(f"{r['name']:<34} {r['value']:>12,} {r['unit']:<9} {base:>10} {ratio:>6} {rss:>11}")
    print("\n".join(["", *lines, *notes, ""]), file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Generate the corpus, measure every piece, print JSON lines and the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20, help="total size of the generated gzip WARCs, MB (10^6 B)")
    parser.add_argument(
        "--files", type=int, default=4, help="number of WARC files (shards: --workers runs them in parallel)"
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes for the end-to-end build")
    parser.add_argument("--extractor", choices=("trafilatura", "resiliparse"), default="trafilatura")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the signature comparison; the best counts")
    parser.add_argument("--threads", type=int, default=None, help="POLARS_MAX_THREADS (default: Polars' own)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="keep the WARCs, stage parts and release here (a new directory); default: a temp dir",
    )
    args = parser.parse_args(argv)
    command = " ".join([".venv/bin/python", "-m", "bench.spine", *(argv if argv is not None else sys.argv[1:])])
    if args.threads:
        os.environ["POLARS_MAX_THREADS"] = str(args.threads)  # inherited by the spawned measurement processes
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"{args.out} exists and is not empty: choose a new --out")
    root = args.out or Path(tempfile.mkdtemp(prefix="apertura-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        run(args, root, command)
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, root: Path, command: str) -> None:
    """The measurements, in order: corpus, stages, signatures vs datasketch, end to end, checks."""
    from pipeline.config import RunConfig
    from pipeline.executors.local import STAGES

    started = time.perf_counter()
    settings = RunConfig().model_dump()
    settings["extract"]["extractor"] = args.extractor
    config = RunConfig.model_validate(settings)
    config_json = config.model_dump_json()
    rows: list[dict[str, Any]] = []

    def emit(row: dict[str, Any]) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)

    start = time.perf_counter()
    corpus = write_corpus(root / "warc", args.mb, args.files, args.seed)
    generated = time.perf_counter() - start
    print(
        f"corpus: {len(corpus.files)} files, {corpus.bytes / MB:.1f} MB, {corpus.records:,} pages "
        f"({dict(corpus.pages)}) in {generated:.1f} s",
        file=sys.stderr,
    )

    stages = root / "stages"
    stages.mkdir()
    read = measure(stage_read, corpus.files, config_json, str(stages / "source"))
    emit(
        figure(
            "stage_read_source",
            read["docs"] / read["seconds"],
            "docs/s",
            read["peak_rss_mb"],
            command,
            docs=read["docs"],
            seconds=round(read["seconds"], 2),
            mb_per_s=round(read["bytes"] / MB / read["seconds"], 1),
        )
    )
    previous, chain = stages / "source", {}
    for stage in STAGES:
        res = measure(stage_step, stage, config_json, str(previous), str(stages / stage))
        chain[stage] = res
        name = "stage_read_admit" if stage == "read" else f"stage_{stage}"
        emit(
            figure(
                name,
                res["docs"] / res["seconds"],
                "docs/s",
                res["peak_rss_mb"],
                command,
                docs=res["docs"],
                seconds=round(res["seconds"], 2),
                kept=res["kept"],
                removed=res["removed"],
            )
        )
        previous = stages / stage
    keys = measure(stage_dedup_keys, config_json, str(previous), str(stages / "keys"), args.repeat)
    emit(
        figure(
            "stage_dedup_keys",
            keys["docs"] / keys["seconds"],
            "docs/s",
            keys["peak_rss_mb"],
            command,
            docs=keys["docs"],
            seconds=round(keys["seconds"], 3),
        )
    )
    dups = measure(stage_find_duplicates, config_json, str(stages / "keys"), str(stages / "dedup.parquet"))
    chain["dedup"] = dups
    emit(
        figure(
            "stage_find_duplicates",
            dups["docs"] / dups["seconds"],
            "docs/s",
            dups["peak_rss_mb"],
            command,
            docs=dups["docs"],
            seconds=round(dups["seconds"], 3),
            removed=dups["removed"],
        )
    )

    import datasketch

    theirs = measure(datasketch_signatures, config_json, str(previous), args.repeat)
    emit(
        figure(
            "minhash_signatures_vs_datasketch",
            keys["docs"] / keys["seconds"],
            "docs/s",
            keys["peak_rss_mb"],
            command,
            baseline=f"datasketch {datasketch.__version__} MinHash.generator (affine32, xxh32 shingles)",
            baseline_value=theirs["docs"] / theirs["seconds"],
            docs=keys["docs"],
            baseline_peak_rss_mb=round(theirs["peak_rss_mb"], 1),
            identical_to_datasketch_sample=f"{theirs['identical_sample']} ({theirs['sample']} docs)",
        )
    )

    release = root / "release"
    e2e = measure(end_to_end, corpus.files, config_json, str(release), args.workers)
    counts = e2e["counts"]
    peak = max(e2e["peak_rss_mb"], e2e["peak_rss_mb_workers"])
    extra = {
        "workers": args.workers,
        "extractor": args.extractor,
        "seconds": round(e2e["seconds"], 1),
        "peak_rss_mb_main": round(e2e["peak_rss_mb"], 1),
        "peak_rss_mb_workers": round(e2e["peak_rss_mb_workers"], 1),
    }
    emit(
        figure(
            "end_to_end",
            counts["inputs"] / e2e["seconds"],
            "docs/s",
            peak,
            command,
            docs=counts["inputs"],
            kept=counts["kept"],
            **extra,
        )
    )
    emit(
        figure(
            "end_to_end_warc",
            corpus.bytes / MB / e2e["seconds"],
            "MB/s",
            peak,
            command,
            warc_mb=round(corpus.bytes / MB, 2),
            **extra,
        )
    )

    per_input_ok = all(i["eligible"] == i["kept"] + i["removed"] for i in e2e["inputs"])
    unaccounted = counts["inputs"] - counts["kept"] - counts["removed"]
    emit(
        figure(
            "conservation_unaccounted",
            unaccounted,
            "records",
            None,
            command,
            inputs=counts["inputs"],
            kept=counts["kept"],
            removed=counts["removed"],
            pages_written=corpus.records,
            per_input_ok=per_input_ok,
            ok=unaccounted == 0 and per_input_ok and counts["inputs"] == corpus.records,
        )
    )
    recall = planted_recall(release, corpus)
    for kind in ("exact", "near"):
        r = recall[kind]
        emit(
            figure(
                f"planted_{kind}_dup_recall",
                r["found"] / r["planted"] if r["planted"] else 0.0,
                "fraction",
                None,
                command,
                found=r["found"],
                planted=r["planted"],
                with_reason=f"dedup_{kind}",
                found_with_that_reason=r["as_planted"],
            )
        )
    near = recall["near"]
    if near.get("above_threshold"):
        emit(
            figure(
                "planted_near_dup_recall_jaccard_ge_0.8",
                near["found_above_threshold"] / near["above_threshold"],
                "fraction",
                None,
                command,
                found=near["found_above_threshold"],
                planted=near["above_threshold"],
                note="planted near pairs whose exact 5-gram Jaccard (released texts) is >= 0.8",
            )
        )
    emit(figure("unplanted_dedup_removals", recall["unplanted"]["removed"], "docs", None, command))

    notes = [
        f"corpus {corpus.bytes / MB:.1f} MB in {len(corpus.files)} files, {corpus.records:,} pages; "
        f"extractor {args.extractor}, end-to-end workers {args.workers}; "
        f"whole bench {time.perf_counter() - started:.0f} s",
        "funnel (stage chain | release manifest), removed per stage:",
    ]
    manifest_removed = {s["stage"]: s["removed"] for s in counts["stages"]}
    for stage in (*STAGES, "dedup"):
        chained = sum(chain[stage]["removed"].values())
        flag = "" if chained == manifest_removed.get(stage) else "   <-- differs"
        notes.append(f"  {stage:<9} {chained:>7,} | {manifest_removed.get(stage, 0):>7,}{flag}")
    print_table(rows, notes)


if __name__ == "__main__":
    main()
