"""The normalised-text hashes a pasted text has in a release: the keys a text proof is about.

A release stores a text after its pii step (e-mail addresses, IPs, IBANs replaced by placeholders) and keys it
by `norm_sha256`, the hash of its normalised form. A pasted text may be held in any of the forms
`pipeline.text_identity.released_forms` lists, so a proof that a text is absent proves every one of those
forms' hashes absent, and a proof that it is present shows one of them. Both `prove` and the verifier ask here.
"""

from __future__ import annotations

from hashlib import sha256
from typing import Any

from pipeline.text_identity import normalise_text, release_redaction, released_forms


def released_norm_hashes(text: str, manifest: dict[str, Any]) -> list[str]:
    """Distinct `norm_sha256` values of the text's released forms, most literal first; [] when it has no words."""
    forms = released_forms(text.replace("\x00", ""), release_redaction(manifest))
    normalised = [normalise_text(form) for form in forms]
    hashes = [sha256(n.encode("utf-8")).hexdigest() for n in normalised if n]
    return list(dict.fromkeys(hashes))
