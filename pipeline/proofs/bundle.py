"""`apertura release bundle`: what a provider can publish about a release without publishing any of its text.

    B/manifest.json          the release's manifest, byte for byte (counts, file hashes, commitments' roots)
    B/manifest.dsse.json     its signature (signing.py)
    B/manifest.pubkey.pem    the signer's public key (anyone should also compare its key id with the provider's)
    B/eu_summary.md, .json   the EU AI Act training-content summary (pipeline.reports.eu_summary)
    B/croissant.json         Croissant metadata (pipeline.reports.croissant)
    B/datasheet.md           the datasheet (pipeline.reports.datasheet)
    B/bundle.json            what the bundle holds: release id, manifest sha256, key id, every file's sha256

Written under a temporary name and renamed; a bundle is only made for a signed release whose signature verifies.
Offline, `apertura verify-proof --bundle B proof.json` needs nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
from hashlib import sha256
from pathlib import Path

from pipeline.proofs import signing

BUNDLE_JSON = "bundle.json"
BUNDLE_FORMAT = "apertura-bundle"
BUNDLE_VERSION = 1


class BundleError(RuntimeError):
    """The bundle cannot be written; the message says why (one line)."""


def write_bundle(release: Path, out: Path) -> dict:
    """Write the public bundle of `release` to the new directory `out`; return `bundle.json`'s content."""
    from pipeline.reports.croissant import build_croissant
    from pipeline.reports.datasheet import build_datasheet
    from pipeline.reports.eu_summary import SummaryOptions, build_summary, write_summary

    if out.exists():
        raise BundleError(f"{out} already exists: choose a new --out")
    checks = signing.check_release_signature(release)
    name, ok, detail = checks[0]
    if not (release / signing.ENVELOPE).is_file():
        raise BundleError(f"{release} is not signed: run `apertura release sign {release} --key KEY` first")
    if not ok:
        raise BundleError(f"{release}: {detail}")
    manifest_bytes = (release / signing.MANIFEST).read_bytes()
    manifest = json.loads(manifest_bytes)
    if "commitments" not in manifest:
        raise BundleError(
            f"{release} is format {manifest.get('format_version')}: it has no commitments, so its bundle could prove "
            "nothing (format 4 releases have them)"
        )
    staging = out.parent / f".{out.name}.writing-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for name in (signing.MANIFEST, signing.ENVELOPE, signing.PUBLIC_KEY):
            shutil.copyfile(release / name, staging / name)
        summary = build_summary(release, SummaryOptions())
        write_summary(summary, staging / "eu_summary.md", ("md", "json"))
        doc = build_croissant(release, summary=summary, relative=True)  # the release's files, published beside it
        (staging / "croissant.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (staging / "datasheet.md").write_text(build_datasheet(release, summary=summary), encoding="utf-8")
        envelope = json.loads((staging / signing.ENVELOPE).read_text())
        info = {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_VERSION,
            "release_id": manifest.get("release_id"),
            "manifest_sha256": sha256(manifest_bytes).hexdigest(),
            "key_id": envelope["signatures"][0]["keyid"],
            "commitments": manifest["commitments"],
            "files": [
                {"path": p.name, "bytes": p.stat().st_size, "sha256": sha256(p.read_bytes()).hexdigest()}
                for p in sorted(staging.iterdir())
            ],
        }
        (staging / BUNDLE_JSON).write_text(json.dumps(info, indent=2) + "\n")
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return info
