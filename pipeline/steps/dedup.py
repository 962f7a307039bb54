"""Stage `dedup`: its keys and clusters are the fingerprints of `pipeline.fingerprints` (exact, then MinHash-LSH).

The executors add the keys per batch (`add_dedup_keys`) and the release clusters every candidate globally
(`pipeline.release`). This module stays for one name: every release manifest records the signatures' datasketch
`hashfunc` as `pipeline.steps.dedup:shingle_hash` (`signature_spec`), so that name must keep resolving to the
function that made them.
"""

from pipeline.fingerprints import shingle_hash

__all__ = ["shingle_hash"]
