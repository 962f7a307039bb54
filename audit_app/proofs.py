"""Proof panels: a release's commitments and signature (overview), and proofs to download (rights holders).

Reads the release only: its manifest, the signature beside it, and the commitments (the `commitments/`
sidecar, else the tables) through `pipeline.proofs`, which imports no pipeline step, executor or source.
A proof given here is the one `apertura prove` prints, checked against the manifest before it is offered.
"""

from __future__ import annotations

from hashlib import sha256
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from audit_app import common

BUNDLE_HINT = "<bundle>"  # where the provider published the release's bundle (`apertura release bundle`)


def _stamp(path: Path) -> str:
    """The manifest's sha256: cached provers and proofs are per release version."""
    return sha256((path / "manifest.json").read_bytes()).hexdigest()


def signature_state(path: Path) -> tuple[str, str]:
    """('verified' | 'unsigned' | 'failed', what to say) for the signature beside the manifest."""
    from pipeline.proofs.signing import ENVELOPE, check_release_signature

    [(_, ok, detail)] = check_release_signature(path)
    if not (path / ENVELOPE).is_file():
        return "unsigned", "Not signed: the provider signs a release with `apertura release sign`."
    return ("verified", detail) if ok else ("failed", detail)


def commitments_panel(path: Path, manifest: dict[str, Any]) -> None:
    """The manifest's Merkle roots and whether the signature over the manifest verifies."""
    st.subheader("Commitments and signature")
    section = manifest.get("commitments")
    if not isinstance(section, dict) or not isinstance(section.get("trees"), dict):
        st.info(
            f"This release is format {common.plain(manifest.get('format_version'))}: it predates commitments "
            "(format 4), so no inclusion or exclusion proof can be given for it."
        )
    else:
        rows = [
            {"tree": name, "leaves": t.get("leaves"), "kept": t.get("kept"), "removals": t.get("removals"),
             "root": t.get("root")}
            for name, t in section["trees"].items() if isinstance(t, dict)
        ]  # fmt: skip
        frame = pl.DataFrame(
            rows,
            schema={"tree": pl.String, "leaves": pl.Int64, "kept": pl.Int64, "removals": pl.Int64, "root": pl.String},
        )
        common.show_table(frame, key="commitments_table", link_column=None)
        missing = section.get("not_committed") or {}
        st.caption(
            f"Scheme {common.code_span(section.get('scheme'))}: RFC 9162 Merkle trees over the kept pages' URL "
            "identities with every removal record (URL, stage, reason), and over the kept texts' normalised hashes. "
            f"Records without a URL identity, in no URL tree: {common.plain(missing)}."
        )
    state, detail = signature_state(path)
    if state == "verified":
        st.success("Signature verifies: " + common.plain(detail))
    elif state == "failed":
        st.error("Signature does NOT verify: " + common.plain(detail))
    else:
        st.info(detail)


@st.cache_resource(show_spinner="Reading the release's commitments…", max_entries=8)
def _prover(path: str, stamp: str) -> Any:
    """A Prover per release version (the sidecar memory-mapped, or the trees rebuilt once from the tables)."""
    from pipeline.proofs.prove import Prover

    return Prover(Path(path))


@st.cache_data(show_spinner=False, max_entries=256)
def _proof(path: str, stamp: str, kind: str, value: str) -> tuple[str, str] | tuple[None, str]:
    """(proof JSON, answer), or (None, why no proof can be given)."""
    from pipeline.proofs.check import ProofError
    from pipeline.proofs.prove import proof_json

    try:
        prover = _prover(path, stamp)
        proof = prover.url(value) if kind == "url" else prover.text(value)
    except ProofError as err:
        return None, str(err)
    return proof_json(proof), proof["answer"]


def proof_downloads(releases: list[tuple[str, Path]], kind: str, value: str) -> None:
    """A download per release of the proof for the checked URL or text, with the command that checks it."""
    if kind not in ("url", "text") or not releases:
        return
    st.subheader("Proof you can check yourself")
    st.caption(
        "A proof shows, from the release's signed Merkle roots, that this "
        f"{'URL' if kind == 'url' else 'exact text (after normalisation)'} is in the release, is not, or was "
        "removed and why. Anyone can check it offline against the release's public bundle, without the data. "
        + ("It does not cover near copies of a text." if kind == "text" else "")
    )
    for release_id, path in releases:
        try:
            stamp = _stamp(path)
        except OSError as err:
            st.caption(f"{common.code_span(release_id)}: no proof ({common.plain(err)})")
            continue
        body, answer = _proof(str(path), stamp, kind, value)
        if body is None:
            st.caption(f"{common.code_span(release_id)}: no proof can be given: {common.plain(answer)}")
            continue
        name = f"proof-{common.file_stem(release_id)}-{kind}.json"
        st.download_button(
            f"Download the proof for {common.plain(release_id)} ({answer.replace('_', ' ')})",  # labels are Markdown
            data=body,
            file_name=name,
            mime="application/json",
            key=f"proof_{kind}_{path}",
        )
        extra = " --text-file your-text.txt" if kind == "text" else ""
        st.code(f"apertura verify-proof --bundle {BUNDLE_HINT} {name}{extra}", language=None)
    st.caption(
        f"{common.code_span(BUNDLE_HINT)}: the release's public bundle, as its provider publishes it "
        "(`apertura release bundle`). To check who signed it too, give the provider's public key: "
        "`apertura verify-proof … --pubkey provider.pub`."
    )
