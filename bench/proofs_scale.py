"""Commitments, proofs and their verification at scale (issue 21).

    .venv/bin/python -m bench.proofs_scale scale [--docs 1000000] [--removed 400000] [--out DIR] [--keep]
    .venv/bin/python -m bench.proofs_scale pass [--pages 20000] [--workers 2] [--out DIR]
    .venv/bin/python -m bench.proofs_scale verify --out DIR [--verify-runs 21]     (step 4 alone, on a kept DIR)

`scale`: a synthetic release of `--docs` documents and `--removed` ledger rows, written with the release's own
schemas into a temporary directory (never the repository). Documents have real-looking URLs (5,000 sites) and
distinct `norm_sha256`; the ledger has copies of kept pages (dedup), other pages (quality, read, opt-out) and
rows without a URL. Text bodies are short: commitments read only `url_key`, `norm_sha256`, `stage` and `reason`.
Then, each in a fresh spawned process:
  1. `build_commitments` + `write_sidecar` (what the release pass adds), and `check_commitments` (what
     `verify` adds), seconds and peak RSS;
  2. `prove` with the sidecar: the first proof in a fresh process (imports, opening the sidecar, one proof) and
     the p50/p99 of 300 proofs of each kind after it (in, removed, not in, text in, text not in); and one proof
     without the sidecar (from the tables);
  3. proof sizes of all of those, and of a "removed" proof at about the costliest position;
  4. `verify-proof` from a cold start of the check (a fresh process; interpreter start not counted, every import
     of the check counted, bytecode compiled as installed): median and p90 of `--verify-runs` processes per kind,
     with the load; and the whole `apertura verify-proof` command (interpreter start included), through its entry
     point and through the whole CLI.
`pass`: a real `apertura run` (pipeline, dedup, release) on a `bench.corpus` WARC corpus of `--pages` pages, with
the time inside `build_commitments` and `write_sidecar` measured in the same run: their share of the whole pass.

One JSON line per figure on stdout; a table on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from hashlib import sha256
from pathlib import Path
from typing import Any

from bench._measure import command_line, emit, figure, in_process, machine

LABELS = [("dedup", "dedup_exact"), ("dedup", "dedup_near"), ("quality", "gopher_short_doc"),
          ("quality", "c4_too_few_sentences"), ("read", "read_http_status"), ("optout", "optout_robots"),
          ("optout", "optout_registry"), ("language", "language_not_kept")]  # fmt: skip
FILE_ROWS = 250_000
KINDS = ("url_in", "url_removed", "url_not_in", "text_in", "text_not_in")


def _url(i: int) -> str:
    return f"https://www.site{i % 5000}.example/section/{i // 5000}/article-{i}.html"


def generate(out: str, docs: int, removed: int, seed: int = 7) -> dict[str, Any]:
    """Write the synthetic release (documents, ledger, manifest without commitments); return sample subjects."""
    import polars as pl

    from pipeline.tables import file_sha256, write_part

    release = Path(out)
    release.mkdir(parents=True)
    rng = random.Random(seed)
    files = []
    constants = {
        "dump": "bench", "file_path": "bench.warc.gz", "language": "en", "language_score": 0.9,
        "source_sha256": "0" * 64, "source_format": "warc", "warc_record_offset": 0, "word_count": 3,
        "pii_email": 0, "pii_ip": 0, "pii_iban": 0, "dedup_cluster_size": 1, "pipeline_version": "bench",
        "config_hash": "sha256:" + "0" * 64, "record_type": "response",
    }  # fmt: skip

    def write(frame: pl.DataFrame, table: str, index: int) -> None:
        rel = f"{table}/part-{index:05d}.parquet"
        (release / table).mkdir(exist_ok=True)
        frame = frame.with_columns(**{k: pl.lit(v) for k, v in constants.items()})
        write_part(frame, table, release / rel)
        files.append({"path": rel, "table": table, "rows": frame.height, "schema_version": 2,
                      "bytes": (release / rel).stat().st_size, "sha256": file_sha256(release / rel)})  # fmt: skip

    for part, start in enumerate(range(0, docs, FILE_ROWS)):
        ids = range(start, min(docs, start + FILE_ROWS))
        urls = [_url(i) for i in ids]
        texts = [f"text of document {i}" for i in ids]
        norms = [sha256(f"text of document {i}".encode()).hexdigest() for i in ids]
        write(pl.DataFrame({"id": [f"d{i}" for i in ids], "url": urls, "url_key": [u[8:] for u in urls],
                            "text": texts, "text_sha256": norms, "norm_sha256": norms}), "documents", part)  # fmt: skip
    for part, start in enumerate(range(0, removed, FILE_ROWS)):
        ids = range(start, min(removed, start + FILE_ROWS))
        urls = []
        for i in ids:
            kind = i % 8
            urls.append(None if kind == 7 else _url(rng.randrange(docs)) if kind < 3 else _url(docs + i))
        stages, reasons = zip(*(LABELS[i % len(LABELS)] for i in ids), strict=True)
        write(pl.DataFrame({"id": [f"l{i}" for i in ids], "url": urls,
                            "url_key": [None if u is None else u[8:] for u in urls],
                            "stage": list(stages), "reason": list(reasons)}), "ledger", part)  # fmt: skip
    manifest = {"format": "apertura-release", "format_version": 4, "release_id": "bench", "files": files,
                "config": {"pii": {}}}  # fmt: skip
    (release / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    sample = rng.sample(range(docs), 300)
    removed_urls = [_url(docs + i) for i in range(3, removed, 8)][:300]  # rows 3..6 of 8: removed-only pages
    return {
        "url_in": [_url(i) for i in sample],
        "url_removed": removed_urls,
        "url_not_in": [f"https://absent{i}.example/page" for i in range(300)],
        "text_in": [f"text of document {i}" for i in sample],
        "text_not_in": [f"a text that is in no document, number {i}" for i in range(300)],
    }


def commit(out: str) -> dict[str, Any]:
    """Child: the commitments of the release (what the release pass adds), written into its manifest and sidecar."""
    from pipeline.proofs.commitments import build_commitments

    release = Path(out)
    manifest = json.loads((release / "manifest.json").read_text())
    t = time.perf_counter()
    commitments = build_commitments(release, manifest["files"])
    built = time.perf_counter() - t
    manifest["commitments"] = commitments.section()
    (release / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    t = time.perf_counter()
    commitments.write_sidecar(release, sha256((release / "manifest.json").read_bytes()).hexdigest(), "bench")
    written = time.perf_counter() - t
    sidecar = sum(p.stat().st_size for p in (release / "commitments").iterdir())
    return {"build_s": built, "sidecar_s": written, "sidecar_bytes": sidecar, "section": manifest["commitments"]}


def check(out: str) -> dict[str, Any]:
    """Child: what `verify` adds (the trees rebuilt from the tables, the sidecar compared)."""
    from pipeline.proofs.commitments import check_commitments

    release = Path(out)
    t = time.perf_counter()
    checks = check_commitments(release, json.loads((release / "manifest.json").read_text()),
                               sha256((release / "manifest.json").read_bytes()).hexdigest())  # fmt: skip
    return {"seconds": time.perf_counter() - t, "ok": all(ok for _, ok, _ in checks)}


def prove(out: str, subjects: dict[str, list[str]], proofs_dir: str) -> dict[str, Any]:
    """Child: the first proof from a cold start, then every subject's proof timed; proofs written to disk."""
    started, cpu = time.perf_counter(), time.process_time()
    from pipeline.proofs.prove import Prover, proof_json

    prover = Prover(Path(out))
    first = prover.url(subjects["url_in"][0])
    cold, cold_cpu = time.perf_counter() - started, time.process_time() - cpu
    assert first["answer"] == "in" and prover.source.startswith("from the commitments/ sidecar"), prover.source
    result: dict[str, Any] = {"cold_first_proof_ms": cold * 1000, "cold_first_proof_cpu_ms": cold_cpu * 1000,
                              "kinds": {}}  # fmt: skip
    for kind in KINDS:
        times, sizes, answers = [], [], set()
        for i, value in enumerate(subjects[kind]):
            t = time.perf_counter()
            proof = prover.url(value) if kind.startswith("url") else prover.text(value)
            times.append((time.perf_counter() - t) * 1000)
            body = proof_json(proof)
            sizes.append(len(body.encode()))
            answers.add(proof["answer"])
            if i < 9:
                Path(proofs_dir, f"{kind}-{i}.json").write_text(body)
        times.sort()
        result["kinds"][kind] = {
            "p50_ms": statistics.median(times), "p99_ms": times[int(0.99 * (len(times) - 1))],
            "bytes_median": statistics.median(sizes), "bytes_max": max(sizes), "answers": sorted(answers),
        }  # fmt: skip
    result["worst_position_bytes"] = worst_position_bytes(prover, subjects["url_removed"][0])
    return result


def worst_position_bytes(prover, url: str) -> int:
    """The size of a 3-leaf URL proof (the leaf before a page, one removal record, the leaf after: a "removed"
    proof) placed where a range proof costs most: across the tree's highest subtree boundary (the largest power
    of two below its size), so that both edges need a hash at nearly every level: about the worst case (a
    sampled proof's edges meet lower). The URL is a sampled removed page's, the leaves those at that position."""
    from pipeline.proofs.prove import _shown, proof_json

    tree = prover.commitments.trees["urls"]
    top = 1 << (tree.size - 1).bit_length() - 1
    statement = {"tree": "urls", "claim": "exclusion", **_shown(tree, top - 1, min(top + 2, tree.size))}
    return len(proof_json(prover._proof({"kind": "url", "url": url}, [statement], "removed")).encode())


def prove_without_sidecar(out: str, url: str) -> dict[str, Any]:
    """Child: one proof from the tables alone (no commitments/ sidecar): what a published copy without it costs."""
    from pipeline.proofs.prove import Prover

    t = time.perf_counter()
    prover = Prover(Path(out))
    answer = prover.url(url)["answer"]
    return {"seconds": time.perf_counter() - t, "source": prover.source, "answer": answer}


VERIFY_CHILD = """
import sys, time
t, c = time.perf_counter(), time.process_time()
from pipeline.proofs.check import verify_proof
v = verify_proof(sys.argv[1], sys.argv[2])
print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000, v.answer)
"""


def verify_cold(bundle: Path, proof: Path, pycache: Path) -> tuple[float, float, str]:
    """One fresh interpreter checking one proof: (wall ms, CPU ms) from before the first import of the check to
    the verdict, and the answer. CPU time is what contention on a shared machine does not inflate.

    Modules are loaded from bytecode, as from an installed apertura (pip compiles it at install): the child may
    write its .pyc files, into `pycache` (outside the repository), even where PYTHONDONTWRITEBYTECODE is set,
    and the caller runs it once before timing. Without bytecode each start recompiles the verifier's modules
    from source (~20 ms of CPU that no installation pays)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(Path.cwd()), PYTHONPYCACHEPREFIX=str(pycache))
    done = subprocess.run([sys.executable, "-c", VERIFY_CHILD, str(bundle), str(proof)], capture_output=True,
                          text=True, check=True, env=env)  # fmt: skip
    ms, cpu, answer = done.stdout.split()
    return float(ms), float(cpu), answer


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def command_wall(argv: list[str], pycache: Path) -> float:
    """Wall ms of a whole command, interpreter start included (what a person running it waits)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(Path.cwd()), PYTHONPYCACHEPREFIX=str(pycache))
    t = time.perf_counter()
    subprocess.run([sys.executable, *argv], capture_output=True, check=True, env=env)
    return (time.perf_counter() - t) * 1000


def command_figures(base: Path, runs: int, cmd: str) -> None:
    """`apertura verify-proof` as typed (the entry point, which runs the command alone) against the same command
    through the whole CLI (every command's imports), interpreter start included, alternated run by run."""
    proof, bundle = base / "proofs" / "url_removed-0.json", base / "bundle"
    args = ["verify-proof", str(proof), "--bundle", str(bundle)]
    variants = {"entry_point": ["-m", "apertura_cli", *args],
                "whole_cli": ["-c", "from pipeline.cli import app; app()", *args]}  # fmt: skip
    for argv in variants.values():
        command_wall(argv, base / "pycache")  # bytecode written, as installed
    load_before = os.getloadavg()[0]
    walls: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, argv in variants.items():
            walls[name].append(command_wall(argv, base / "pycache"))
    for name, ms in walls.items():
        emit(figure(f"verify_proof_command_{name}", statistics.median(ms), "ms", None, cmd, p90_ms=round(_p90(ms), 1),
                    runs=runs, note="whole command, interpreter start included",
                    load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)]))  # fmt: skip


def verify_figures(base: Path, runs: int, cmd: str) -> None:
    """`verify-proof` from a cold start of the check, `runs` fresh processes per kind (after one that writes the
    bytecode): median and p90 of wall and CPU time, with the 1-minute load average before and after."""
    for kind in KINDS:
        proof = base / "proofs" / f"{kind}-0.json"
        verify_cold(base / "bundle", proof, base / "pycache")
        load_before = os.getloadavg()[0]
        results = [verify_cold(base / "bundle", base / "proofs" / f"{kind}-{i % 9}.json", base / "pycache")
                   for i in range(runs)]  # fmt: skip
        wall, cpu = [r[0] for r in results], [r[1] for r in results]
        emit(figure(f"verify_proof_cold_{kind}", statistics.median(wall), "ms", None, cmd,
                    p90_ms=round(_p90(wall), 1), max_ms=round(max(wall), 1), runs=runs,
                    cpu_ms_median=round(statistics.median(cpu), 1), cpu_ms_p90=round(_p90(cpu), 1),
                    under_100_ms=sum(w < 100 for w in wall), answers=sorted({r[2] for r in results}),
                    proof_bytes=len((base / "proofs" / f"{kind}-0.json").read_bytes()),
                    target="< 100 ms, interpreter start excluded",
                    load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)]))  # fmt: skip


def make_bundle(release: Path, bundle: Path) -> None:
    """The three files verify-proof reads (the reports of a real bundle are not needed to check proofs)."""
    from pipeline.proofs import signing

    key = release.parent / "bench-key"
    signing.new_keypair(key)
    signing.sign_release(release, key)
    bundle.mkdir()
    for name in (signing.MANIFEST, signing.ENVELOPE, signing.PUBLIC_KEY):
        shutil.copyfile(release / name, bundle / name)


def scale(args: argparse.Namespace) -> None:
    base = Path(args.out or tempfile.mkdtemp(prefix="proofs_scale_"))
    release, bundle, proofs = base / "release", base / "bundle", base / "proofs"
    cmd = command_line("bench.proofs_scale", None)
    try:
        t = time.perf_counter()
        subjects = generate(str(release), args.docs, args.removed)
        print(f"generated {args.docs:,} documents + {args.removed:,} ledger rows in {time.perf_counter() - t:.0f} s",
              file=sys.stderr)  # fmt: skip
        built = in_process("bench.proofs_scale:commit", str(release))
        rss = built["peak_rss_mb"]
        n = args.docs
        emit(figure(f"commitments_build_{n // 1000}k", built["build_s"], "s", rss, cmd,
                    sidecar_write_s=round(built["sidecar_s"], 3), sidecar_mb=round(built["sidecar_bytes"] / 1e6, 1),
                    trees={k: {"leaves": v["leaves"]} for k, v in built["section"]["trees"].items()},
                    not_committed=built["section"]["not_committed"]))  # fmt: skip
        checked = in_process("bench.proofs_scale:check", str(release))
        rss = checked["peak_rss_mb"]
        emit(figure(f"commitments_verify_{n // 1000}k", checked["seconds"], "s", rss, cmd, ok=checked["ok"]))
        make_bundle(release, bundle)
        proofs.mkdir()
        proved = in_process("bench.proofs_scale:prove", str(release), subjects, str(proofs))
        rss = proved["peak_rss_mb"]
        emit(figure("prove_cold_first_proof", proved["cold_first_proof_ms"], "ms", rss, cmd,
                    cpu_ms=round(proved["cold_first_proof_cpu_ms"], 1),
                    note="fresh process: imports, opening the sidecar, one URL proof (interpreter start excluded)"))
        emit(figure("proof_bytes_url_worst_position", proved["worst_position_bytes"], "bytes", None, cmd,
                    target="< 2 KB", note="3 leaves across the tree's highest subtree boundary (about the worst case)"))
        for kind, k in proved["kinds"].items():
            emit(figure(f"prove_{kind}_p50", k["p50_ms"], "ms", rss, cmd, p99_ms=round(k["p99_ms"], 2),
                        target="< 50 ms", answers=k["answers"]))  # fmt: skip
            emit(figure(f"proof_bytes_{kind}", k["bytes_median"], "bytes", None, cmd, max_bytes=k["bytes_max"],
                        target="< 2 KB"))  # fmt: skip
        (release / "commitments").rename(base / "sidecar-aside")
        slow = in_process("bench.proofs_scale:prove_without_sidecar", str(release), subjects["url_in"][0])
        emit(figure("prove_without_sidecar", slow["seconds"], "s", slow["peak_rss_mb"], cmd, answer=slow["answer"],
                    source=slow["source"]))  # fmt: skip
        verify_figures(base, args.verify_runs, cmd)
        command_figures(base, args.verify_runs, cmd)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


def timed_pass(corpus: str, out: str, workers: int) -> dict[str, float]:
    """Child: `apertura run` in process (no index), with the commitments' own time measured inside it."""
    import pipeline.release as release_module
    from pipeline.cli import build
    from pipeline.config import RunConfig
    from pipeline.proofs import commitments as commitments_module
    from pipeline.sources.inputs import expand_inputs

    spent = {"commitments": 0.0}
    original_build, original_write = release_module.build_commitments, commitments_module.Commitments.write_sidecar

    def build_commitments(*a, **k):
        t = time.perf_counter()
        try:
            return original_build(*a, **k)
        finally:
            spent["commitments"] += time.perf_counter() - t

    def write_sidecar(self, *a, **k):
        t = time.perf_counter()
        try:
            return original_write(self, *a, **k)
        finally:
            spent["commitments"] += time.perf_counter() - t

    release_module.build_commitments = build_commitments
    commitments_module.Commitments.write_sidecar = write_sidecar
    config = RunConfig.model_validate({**RunConfig().model_dump(), "extract": {"extractor": "resiliparse"}})
    t = time.perf_counter()
    manifest = build(expand_inputs([corpus]), config, Path(out), workers=workers, index=False)
    total = time.perf_counter() - t
    return {"total_s": total, "commitments_s": spent["commitments"], "kept": manifest["counts"]["kept"],
            "removed": manifest["counts"]["removed"]}  # fmt: skip


def release_pass(args: argparse.Namespace) -> None:
    base = Path(args.out or tempfile.mkdtemp(prefix="proofs_pass_"))
    corpus = base / "corpus"
    cmd = command_line("bench.proofs_scale", None)
    try:
        subprocess.run([sys.executable, "-m", "bench.corpus", "--out", str(corpus), "--docs", str(args.pages),
                        "--files", "4"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        for round_ in range(args.repeat):
            out = base / f"r{round_}"
            got = in_process("bench.proofs_scale:timed_pass", str(corpus), str(out), args.workers)
            rss = got["peak_rss_mb"]
            share = got["commitments_s"] / got["total_s"]
            emit(figure("commitments_share_of_release_pass", share * 100, "%", rss, cmd, target="< 5 %",
                        pages=args.pages, commitments_s=round(got["commitments_s"], 3),
                        pass_s=round(got["total_s"], 1), kept=got["kept"], removed=got["removed"]))  # fmt: skip
            shutil.rmtree(out, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    one = sub.add_parser("scale")
    one.add_argument("--docs", type=int, default=1_000_000)
    one.add_argument("--removed", type=int, default=400_000)
    one.add_argument("--verify-runs", type=int, default=21, help="fresh processes per kind for verify-proof")
    three = sub.add_parser("verify", help="only the verify-proof figures, on a kept `scale --out DIR --keep`")
    three.add_argument("--out", required=True)
    three.add_argument("--verify-runs", type=int, default=21)
    two = sub.add_parser("pass")
    two.add_argument("--pages", type=int, default=20_000)
    two.add_argument("--workers", type=int, default=2)
    two.add_argument("--repeat", type=int, default=2)
    for p in (one, two):
        p.add_argument("--out", help="working directory (default: a temporary one, removed at the end)")
        p.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args()
    print(json.dumps({"machine": machine()}), file=sys.stderr)
    if args.what == "verify":
        verify_figures(Path(args.out), args.verify_runs, command_line("bench.proofs_scale", None))
        command_figures(Path(args.out), args.verify_runs, command_line("bench.proofs_scale", None))
        return
    scale(args) if args.what == "scale" else release_pass(args)


if __name__ == "__main__":
    main()
