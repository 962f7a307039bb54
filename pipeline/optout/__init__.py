"""Opt-out signals: pure parsers and decisions with evidence (no network I/O).

One module per signal family: `robots` (RFC 9309 + aipref/Content-Signal group lines), `aipref`
(the `Content-Usage` HTTP header), `tdmrep` (W3C TDMRep), `noai` (X-Robots-Tag / meta robots),
`aitxt` (Spawning ai.txt); `families` declares each once (site file, parser, decider, plain text, ledger
reason) for everything that lists them. Callers (crawler, pipeline opt-out step, `verify`) pass fetched
bytes, headers and statuses; every function returns `Decision`s that carry their `Evidence`. Reading
inputs is the sources' business (`pipeline/sources/policy_scan.py`).
"""

from pipeline.optout.base import Decision, Evidence

__all__ = ["Decision", "Evidence"]
