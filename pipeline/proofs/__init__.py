"""Proof without the data: commitments, signatures, public bundles and proofs anyone can check offline.

* `leaves.py`   what each tree's leaves are (kept URL identities with removal records; normalised texts)
* `merkle.py`   RFC 9162 tree hashing and inclusion verification (standard library only)
* `tree.py`     a sorted tree kept as leaves + chunk roots, for fast audit paths
* `commitments.py`  the trees of a release from its tables, its manifest section, sidecar and `verify` checks
* `signing.py`  Ed25519 keys and DSSE-style detached signatures over the manifest
* `bundle.py`   the public bundle (manifest, signature, key, EU summary, Croissant, datasheet)
* `prove.py`    proofs that a URL or text is in, is not, or was removed and why
* `check.py`    the offline verifier and its one-sentence answer
* `cli.py`      the commands

Nothing is imported here: the verifier must start without numpy or polars.
"""
