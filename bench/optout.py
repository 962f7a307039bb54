"""The opt-out stage on a planted WARC: policy pre-pass, `OptoutStep` throughput, and protego as a peer.

    .venv/bin/python -m bench.optout [--pages 100000] [--origins 500] [--seed 0] [--profile BATCHES] [--out DIR]

Why: every record of a run goes through `OptoutStep` before anything else, once per honoured agent
(`RunConfig().optout.agents`, 13), and a run starts with a full decompression pass (`policy_scan.collect`)
just to find the site policy files. Both scale with the input, not with what survives, so they bound
the throughput of the whole pipeline on a crawl where most pages are kept.

1. Writes one gzip WARC (one member per record), deterministically from `--seed`: `--origins` hosts
   `siteNNN.bench.test`, each with a `/robots.txt` response (40% rules for other crawlers only, 20%
   `User-agent: GPTBot / Disallow: /`, 20% `User-agent: * / Disallow: /private/`, 10% a `*` group with
   `Content-Usage: train-ai=n`, 10% HTTP 404), some with `/.well-known/tdmrep.json` (reserving `/premium/`,
   or reserving nothing, or a 404) and `/ai.txt` (`CCBot` disallowed everywhere, or only `*.jpg`), then
   `--pages` HTML responses of about 2 KB spread over the origins: 10% under `/private/`, 5% under
   `/premium/`, 5% with `X-Robots-Tag: noai`, 2% `X-Robots-Tag: noindex, noimageai` (reserves nothing),
   2% a `Content-Usage: train-ai=n` header, 5% `<meta name="tdm-reservation" content="1">` and 2% the
   same with content="0" (which overrides the site's tdmrep.json, TDMRep's precedence). Whether each
   page is reserved for at least one honoured agent is known by construction (the ground truth).
2. `collect` (the policy pre-pass) alone: MB/s of WARC and records/s (every WARC record).
3. `OptoutStep.apply` alone: the WARC is read with `read_input` (batch size 256, the run's read config)
   and admitted (`AdmitStep`, which drops the policy files as the executor does) first, untimed; then
   every batch goes through the stage. Records/s, and decisions/s (records x agents). Its removals are
   checked page by page against the ground truth (`optout_ground_truth_agreement`, 1.0 = exact).
4. Baseline, same run: protego parses each origin's robots.txt once, then `can_fetch(url, agent)` for
   every page and honoured agent (a 404 robots.txt is parsed as an empty file: it allows everything).
   It decides robots.txt Allow/Disallow only, without evidence; the stage also decides Content-Usage /
   Content-Signal lines and headers, TDMRep (meta, header, tdmrep.json), noai and ai.txt, and writes
   evidence rows: the ratio prices all of that, it is not like for like.

Each measured piece runs in a fresh spawned process, so its peak RSS is its own (the stage's includes
the batches it holds, as the executor's workers do). `--profile N` also runs cProfile over the stage
on the first N batches and prints the top functions (cumulative and own time) on stderr.

Prints one JSON line per figure on stdout ({name, value, unit, baseline, baseline_value, ratio,
peak_rss_mb, command}, plus a few extra fields), then a table on stderr.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.spine import figure, measure, print_table

MB = 1_000_000
BATCH_SIZE = 256
WARC_DATE = "2025-06-01T00:00:00Z"
ROBOTS_SHARES: dict[str, float] = {"none": 0.4, "gptbot": 0.2, "star_private": 0.2, "content_usage": 0.1, "404": 0.1}
TDMREP_SHARES: dict[str, float] = {"premium": 0.10, "open": 0.05, "404": 0.05}  # the rest: no tdmrep.json fetched
AITXT_SHARES: dict[str, float] = {"ccbot": 0.05, "jpg": 0.05}  # the rest: no ai.txt fetched
ROBOTS_TXT: dict[str, str] = {
    # Rules for other crawlers only: no group names an honoured agent, no '*' group.
    "none": (
        "# crawl politely\nUser-agent: Googlebot\nDisallow: /private/\n\n"
        "User-agent: Bingbot\nCrawl-delay: 5\nDisallow: /search\n\nSitemap: http://{host}/sitemap.xml\n"
    ),
    "gptbot": "User-agent: GPTBot\nDisallow: /\n",
    "star_private": "User-agent: *\nDisallow: /private/\n",
    "content_usage": "User-agent: *\nContent-Usage: train-ai=n\nAllow: /\n",
}
TDMREP_JSON: dict[str, str] = {
    "premium": (
        '[{"location": "/premium/", "tdm-reservation": 1, "tdm-policy": "http://{host}/tdm-policy.json"},'
        ' {"location": "/", "tdm-reservation": 0}]'
    ),
    "open": '[{"location": "/", "tdm-reservation": 0}]',
}
AI_TXT: dict[str, str] = {"ccbot": "User-Agent: CCBot\nDisallow: /\n", "jpg": "User-Agent: *\nDisallow: *.jpg\n"}
NOT_FOUND = "<!doctype html><html><head><title>404</title></head><body><h1>Not Found</h1></body></html>"


# --------------------------------------------------------------------------------------------- corpus


@dataclass
class Origin:
    host: str
    robots: str  # a ROBOTS_SHARES key
    tdmrep: str | None  # a TDMREP_SHARES key, None: not fetched
    ai_txt: str | None  # an AITXT_SHARES key, None: not fetched

    def robots_body(self) -> str | None:
        """The robots.txt body as served with 200, None for the 404."""
        return None if self.robots == "404" else ROBOTS_TXT[self.robots].replace("{host}", self.host)


@dataclass
class Corpus:
    """What was written, known by construction."""

    path: str
    bytes: int
    records: int  # every WARC record, warcinfo and policy files included
    origins: list[Origin]
    urls: list[str]  # the pages, in file order
    reserved: set[str]  # pages reserved for at least one honoured agent
    robots_reserved: set[str]  # ... of them, by robots.txt Allow/Disallow (what protego can see)
    kinds: Counter[str] = field(default_factory=Counter)  # why pages are reserved (all reasons that apply)


def _pick(rng: random.Random, shares: dict[str, float]) -> str | None:
    r, acc = rng.random(), 0.0
    for key, share in shares.items():
        acc += share
        if r < acc:
            return key
    return None


def _words(seed: int) -> list[str]:
    rng = random.Random(f"{seed}-words")
    letters = "etaoinshrdlucmfwypvbgk"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(400)]


def _html(rng: random.Random, words: list[str], title: str, meta: str, size: int = 2000) -> str:
    head = f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>{meta}</head><body>'
    parts = [head, f"<h1>{title}</h1>"]
    used = len(head)
    while used < size:
        para = " ".join(rng.choices(words, k=40)).capitalize() + "."
        parts.append(f"<p>{para}</p>")
        used += len(para) + 7
    parts.append("</body></html>")
    return "".join(parts)


def write_corpus(directory: Path, pages: int, n_origins: int, seed: int) -> Corpus:
    """Write the planted WARC; record ids and dates come from `seed`, so the file is byte-identical per seed."""
    from warcio.warcwriter import WARCWriter

    from tests.helpers.warcs import Page, page_record

    rng = random.Random(seed)
    ids = random.Random(f"{seed}-record-ids")
    words = _words(seed)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "optout-bench.warc.gz"
    origins = [
        Origin(
            f"site{i:03d}.bench.test",
            _pick(rng, ROBOTS_SHARES) or "none",
            _pick(rng, TDMREP_SHARES),
            _pick(rng, AITXT_SHARES),
        )
        for i in range(n_origins)
    ]
    corpus = Corpus(str(path), 0, 0, origins, [], set(), set())
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)

        def write(page: Page | None = None, record: Any = None) -> None:
            record = record if record is not None else page_record(writer, page)
            record.rec_headers.replace_header("WARC-Record-ID", f"<urn:uuid:{uuid.UUID(int=ids.getrandbits(128))}>")
            writer.write_record(record)
            corpus.records += 1

        info = writer.create_warcinfo_record(path.name, {"software": "apertura bench.optout", "seed": str(seed)})
        info.rec_headers.replace_header("WARC-Date", WARC_DATE)
        write(record=info)
        for o in origins:
            base = f"http://{o.host}"
            body = o.robots_body()
            if body is None:
                write(Page(f"{base}/robots.txt", NOT_FOUND, status=404, date=WARC_DATE))
            else:
                write(Page(f"{base}/robots.txt", body, content_type="text/plain", date=WARC_DATE))
            if o.tdmrep == "404":
                write(Page(f"{base}/.well-known/tdmrep.json", NOT_FOUND, status=404, date=WARC_DATE))
            elif o.tdmrep is not None:
                body = TDMREP_JSON[o.tdmrep].replace("{host}", o.host)
                write(Page(f"{base}/.well-known/tdmrep.json", body, content_type="application/json", date=WARC_DATE))
            if o.ai_txt is not None:
                write(Page(f"{base}/ai.txt", AI_TXT[o.ai_txt], content_type="text/plain", date=WARC_DATE))
        for i in range(pages):
            o = origins[rng.randrange(n_origins)]
            r = rng.random()
            section = "private" if r < 0.10 else "premium" if r < 0.15 else "articles"
            url = f"http://{o.host}/{section}/{i}.html"
            r = rng.random()
            header = "noai" if r < 0.05 else "noimageai" if r < 0.07 else "content_usage" if r < 0.09 else None
            r = rng.random()
            tdm_meta = "1" if r < 0.05 else "0" if r < 0.07 else None
            meta = "" if tdm_meta is None else f'<meta name="tdm-reservation" content="{tdm_meta}">'
            headers = {
                "noai": [("X-Robots-Tag", "noai")],
                "noimageai": [("X-Robots-Tag", "noindex, noimageai")],
                "content_usage": [("Content-Usage", "train-ai=n")],
                None: [],
            }[header]
            html = _html(rng, words, f"Page {i} of {o.host}", meta)
            write(Page(url, html, extra_headers=headers, date=WARC_DATE))
            corpus.urls.append(url)
            # Ground truth: every reason that reserves this page for at least one of the honoured agents.
            tdm_file = o.tdmrep == "premium" and section == "premium"
            reasons = {
                "robots_gptbot": o.robots == "gptbot",  # GPTBot is honoured
                "robots_star_private": o.robots == "star_private" and section == "private",
                "robots_content_usage": o.robots == "content_usage",
                "ai_txt_ccbot": o.ai_txt == "ccbot",  # CCBot is honoured; *.jpg never matches a page
                "x_robots_noai": header == "noai",
                "content_usage_header": header == "content_usage",
                # TDMRep: the page's meta wins over tdmrep.json, so content="0" lifts a /premium/ reservation.
                "tdmrep": tdm_meta == "1" or (tdm_meta is None and tdm_file),
            }
            hits = [k for k, v in reasons.items() if v]
            corpus.kinds.update(hits)
            if hits:
                corpus.reserved.add(url)
            if reasons["robots_gptbot"] or reasons["robots_star_private"]:
                corpus.robots_reserved.add(url)
    corpus.bytes = path.stat().st_size
    return corpus


# ------------------------------------------------------------------------------------ measured pieces


def policy_prepass(spec: str, out_file: str) -> dict[str, Any]:
    """`collect` alone (timed), then `PolicyIndex.build` (timed apart); the collected frame goes to Parquet."""
    from pipeline.optout.policies import PolicyIndex
    from pipeline.sources.policy_scan import collect

    start = time.perf_counter()
    collected, scanned = collect([spec])
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    index = PolicyIndex.build(collected)
    build_seconds = time.perf_counter() - start
    collected.write_parquet(out_file)
    return {
        "seconds": seconds,
        "build_seconds": build_seconds,
        "policy_records": collected.height,
        "origins": len(index.sites),
        "bytes": sum(s.bytes for s in scanned),
    }


def optout_stage(spec: str, policies_file: str, profile_batches: int) -> dict[str, Any]:
    """Read and admit every batch (untimed), then time `OptoutStep.apply` over all of them."""
    from pipeline.config import RunConfig
    from pipeline.sources.inputs import read_input
    from pipeline.sources.policy_scan import load_policies
    from pipeline.steps.admit import AdmitStep
    from pipeline.steps.optout import OptoutStep

    config = RunConfig()
    index = load_policies(Path(policies_file))
    admit = AdmitStep(config)
    batches_iter, _ = read_input(spec, batch_size=BATCH_SIZE, read_config=config.read)
    batches = [kept for b in batches_iter if not (kept := admit.apply(b).kept).is_empty()]
    step = OptoutStep(config, index)
    records = sum(b.height for b in batches)
    removed_urls: list[str] = []
    reasons: Counter[str] = Counter()
    evidence = 0
    start = time.perf_counter()
    results = [step.apply(b) for b in batches]
    seconds = time.perf_counter() - start
    for res in results:
        removed_urls.extend(res.removed["url"].to_list())
        reasons.update(res.removed["reason"].to_list())
        evidence += 0 if res.evidence is None else res.evidence.height
    profile = ""
    if profile_batches:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for b in batches[:profile_batches]:
            step.apply(b)
        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("cumulative").print_stats(10)
        stats.sort_stats("tottime").print_stats(10)
        profile = text.getvalue()
    return {
        "seconds": seconds,
        "records": records,
        "batches": len(batches),
        "agents": len(config.optout.agents),
        "removed_urls": removed_urls,
        "reasons": dict(reasons),
        "evidence_rows": evidence,
        "profile": profile,
    }


def protego_baseline(robots: dict[str, str | None], urls: list[str], agents: tuple[str, ...]) -> dict[str, Any]:
    """Parse each origin's robots.txt once with protego, then can_fetch every page for every agent (timed).

    A 404 robots.txt allows everything (RFC 9309); it is given to protego as an empty file, so every page
    still costs one `can_fetch` per agent, as every page costs the stage one decision per agent.
    """
    from urllib.parse import urlsplit

    from protego import Protego

    start = time.perf_counter()
    parsers = {host: Protego.parse(body or "") for host, body in robots.items()}
    parse_seconds = time.perf_counter() - start
    removed = 0
    for url in urls:
        parser = parsers[urlsplit(url).hostname or ""]
        allowed = [parser.can_fetch(url, agent) for agent in agents]  # no short cut: all agents, as the stage
        removed += not all(allowed)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "parse_seconds": parse_seconds, "removed": removed}


def main(argv: list[str] | None = None) -> None:
    """Generate the WARC, measure every piece, print JSON lines and the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100_000, help="HTML page records in the WARC")
    parser.add_argument("--origins", type=int, default=500, help="sites the pages are spread over")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed")
    parser.add_argument("--profile", type=int, default=0, help="cProfile the stage on this many batches (0: off)")
    parser.add_argument("--out", type=Path, default=None, help="keep the WARC here (a new directory)")
    args = parser.parse_args(argv)
    command = " ".join([".venv/bin/python", "-m", "bench.optout", *(argv if argv is not None else sys.argv[1:])])
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"{args.out} exists and is not empty: choose a new --out")
    root = args.out or Path(tempfile.mkdtemp(prefix="apertura-bench-optout-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        run(args, root, command)
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, root: Path, command: str) -> None:
    from pipeline.config import RunConfig

    started = time.perf_counter()
    agents = RunConfig().optout.agents
    rows: list[dict[str, Any]] = []

    def emit(row: dict[str, Any]) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)

    t = time.perf_counter()
    corpus = write_corpus(root, args.pages, args.origins, args.seed)
    notes = [
        f"WARC: {corpus.bytes / MB:.1f} MB, {corpus.records:,} records ({len(corpus.urls):,} pages, "
        f"{len(corpus.origins)} origins), written in {time.perf_counter() - t:.1f} s; "
        f"{len(corpus.reserved):,} pages reserved by construction; reasons: {dict(corpus.kinds)}"
    ]

    policies_file = str(root / "policies.parquet")
    pre = measure(policy_prepass, corpus.path, policies_file)
    emit(
        figure(
            "policy_prepass_collect",
            corpus.bytes / MB / pre["seconds"],
            "MB/s",
            pre["peak_rss_mb"],
            command,
            records_per_s=round(corpus.records / pre["seconds"], 1),
            records=corpus.records,
            policy_records=pre["policy_records"],
            seconds=round(pre["seconds"], 2),
            index_build_seconds=round(pre["build_seconds"], 3),
            origins_indexed=pre["origins"],
        )
    )

    stage = measure(optout_stage, corpus.path, policies_file, args.profile)
    base = measure(protego_baseline, {o.host: o.robots_body() for o in corpus.origins}, corpus.urls, tuple(agents))
    ours = stage["records"] / stage["seconds"]
    theirs = len(corpus.urls) / base["seconds"]
    emit(
        figure(
            "optout_stage",
            ours,
            "records/s",
            stage["peak_rss_mb"],
            command,
            baseline="protego can_fetch x agents",
            baseline_value=theirs,
            baseline_peak_rss_mb=round(base["peak_rss_mb"], 1),
            records=stage["records"],
            batches=stage["batches"],
            agents=stage["agents"],
            seconds=round(stage["seconds"], 2),
            baseline_seconds=round(base["seconds"], 2),
            baseline_parse_seconds=round(base["parse_seconds"], 3),
            removed=len(stage["removed_urls"]),
            baseline_removed=base["removed"],
            baseline_expected_removed=len(corpus.robots_reserved),
            evidence_rows=stage["evidence_rows"],
        )
    )
    emit(
        figure(
            "optout_stage_decisions",
            ours * stage["agents"],
            "decisions/s",
            stage["peak_rss_mb"],
            command,
            baseline="protego can_fetch x agents",
            baseline_value=theirs * stage["agents"],
            agents=stage["agents"],
        )
    )

    removed = set(stage["removed_urls"])
    wrong = len(removed ^ corpus.reserved)
    emit(
        figure(
            "optout_ground_truth_agreement",
            1 - wrong / max(len(corpus.urls), 1),
            "fraction",
            None,
            command,
            removed=len(stage["removed_urls"]),
            expected=len(corpus.reserved),
            false_removals=len(removed - corpus.reserved),
            missed=len(corpus.reserved - removed),
            ok=removed == corpus.reserved and len(stage["removed_urls"]) == len(removed),
        )
    )
    notes.append(f"stage removals by ledger reason: {stage['reasons']}")
    notes.append(
        f"protego removed {base['removed']:,} (robots.txt Allow/Disallow only; expected "
        f"{len(corpus.robots_reserved):,}); our stage also decides aipref, TDMRep, noai, ai.txt and writes evidence"
    )
    notes.append(f"total {time.perf_counter() - started:.0f} s")
    if stage["profile"]:
        print(f"\ncProfile of OptoutStep.apply over {args.profile} batches:\n{stage['profile']}", file=sys.stderr)
    print_table(rows, notes)


if __name__ == "__main__":
    main()
