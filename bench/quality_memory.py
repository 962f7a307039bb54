"""The quality step's working memory: peak RSS it adds per MB of batch text (issue 17, item 4).

    .venv/bin/python -m bench.quality_memory [--mb 8,32] [--doc-kb 20,9216]

For each batch size (MB of text) and document size (KiB), a fresh process builds one batch of synthetic
English documents (`pipeline.synthetic`), notes its peak RSS, runs `QualityStep.annotate` on the batch and
notes the peak again: the growth divided by the batch's text MB is the figure `quality_rss_per_text_mb`. Batches
are cut at `ReadConfig.max_batch_bytes` (32 MiB by default), so a worker's quality step needs about this figure
times 32 MB whatever its documents, where it used to need it times 256 documents (tens of GB for large ones).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from bench._measure import command_line, emit, figure

CHILD = r"""
import json, resource, sys, time
import polars as pl
from pipeline.config import RunConfig
from pipeline.steps.quality import QualityStep
from pipeline.synthetic import make_page

mb, doc_kb = float(sys.argv[1]), int(sys.argv[2])
pages = [" ".join(make_page(i, f"http://q.test/{i}", "en", paragraphs=40).paragraphs) for i in range(50)]
unit = "\n\n".join(pages)
doc = (unit * (doc_kb * 1024 // len(unit) + 1))[: doc_kb * 1024]
docs = max(1, int(mb * 1e6) // len(doc.encode()))
batch = pl.DataFrame({"text": [doc] * docs, "language": ["en"] * docs})
step = QualityStep(RunConfig())
step.annotate(batch.head(1))  # compile the kernels first: their memory is not the batch's
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
started = time.perf_counter()
step.annotate(batch)
seconds = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
text_mb = sum(len(t.encode()) for t in batch["text"]) / 1e6
print(json.dumps({"text_mb": text_mb, "docs": docs, "grew_mb": after - before, "peak_mb": after, "seconds": seconds}))
"""


def measure(mb: float, doc_kb: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(mb), str(doc_kb)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", default="8,32", help="MB of text per batch")
    parser.add_argument("--doc-kb", default="20,9216", help="document sizes, KiB (20: a web page; 9216: 9 MiB)")
    args = parser.parse_args(argv)
    command = command_line("bench.quality_memory", argv)
    for mb in (float(x) for x in args.mb.split(",")):
        for doc_kb in (int(x) for x in args.doc_kb.split(",")):
            m = measure(mb, doc_kb)
            emit(figure(f"quality_rss_per_text_mb_{mb:g}mb_{doc_kb}kb", round(m["grew_mb"] / m["text_mb"], 2),
                        "MB RSS per MB text", m["peak_mb"], command, docs=m["docs"], text_mb=round(m["text_mb"], 1),
                        seconds=round(m["seconds"], 2)))  # fmt: skip


if __name__ == "__main__":
    main()
