"""The proof commands: `apertura keys new`, `release sign`, `release bundle`, `prove`, `verify-proof`.

Registered in `pipeline/cli.py`. Thin: parse, call one function, print. Every failure is one line on stderr and
exit 1 (a proof, bundle or key that does not check) or 2 (a usage error), never a traceback.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

keys_app = typer.Typer(help="Ed25519 keys to sign releases with.", no_args_is_help=True)


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {(str(message).splitlines() or [''])[0]}", err=True)
    return typer.Exit(code)


@keys_app.command("new")
def keys_new(
    out: Annotated[Path, typer.Option("--out", "-o", help="Private key file to create (the public key: <out>.pub).")],
) -> None:
    """A new Ed25519 key pair: the private key (mode 0600, keep it secret) and <out>.pub (publish its key id)."""
    from pipeline.proofs.signing import SignatureError, new_keypair

    try:
        public, kid = new_keypair(out)
    except (SignatureError, OSError) as err:
        raise _fail(err, 2) from None
    typer.echo(f"private key: {out}  (keep it secret; anyone holding it can sign as you)")
    typer.echo(f"public key:  {public}")
    typer.echo(f"key id:      {kid}")


def sign_command(
    release: Annotated[Path, typer.Argument(help="Release directory (holds manifest.json).")],
    key: Annotated[Path, typer.Option("--key", "-k", help="Private key from `apertura keys new`.")],
    force: Annotated[bool, typer.Option(help="Replace an existing signature.")] = False,
) -> None:
    """Sign the release's manifest (after `verify` passes): writes manifest.dsse.json and manifest.pubkey.pem."""
    from pipeline.proofs.signing import SignatureError, sign_release
    from pipeline.verify import verify_release

    report = verify_release(release)
    if not report.ok:
        failed = next(c for c in report.checks if not c.ok)
        raise _fail(f"{release} does not verify ({failed.name}: {failed.detail}); only a sound release is signed", 1)
    try:
        envelope = sign_release(release, key, force=force)
    except (SignatureError, OSError) as err:
        raise _fail(err, 2) from None
    kid = envelope["signatures"][0]["keyid"]
    typer.echo(f"signed {release / 'manifest.json'} (sha256 {envelope['payloadSha256']}) with key {kid}")


def bundle_command(
    release: Annotated[Path, typer.Argument(help="A signed release directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New bundle directory (must not exist).")],
) -> None:
    """The public bundle: manifest, signature, public key, EU summary, Croissant, datasheet; no text at all."""
    import duckdb

    from pipeline.proofs.bundle import BundleError, write_bundle
    from pipeline.release_read import ReleaseError

    try:
        info = write_bundle(release, out)
    except (BundleError, ReleaseError, OSError, ValueError, duckdb.Error) as err:
        raise _fail(err, 2) from None
    typer.echo(f"bundle written: {out} ({len(info['files'])} files, key {info['key_id'][:16]}…)")


def prove_command(
    release: Annotated[Path, typer.Argument(help="Release directory.")],
    url: Annotated[str | None, typer.Option(help="A page URL (any spelling of the same page).")] = None,
    text_file: Annotated[
        Path | None, typer.Option(help="A UTF-8 text file: is this exact text (normalised) in?")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the proof here instead of stdout.")] = None,
) -> None:
    """Print a proof (JSON) that a URL or a text is in the release, is not, or was removed and why."""
    from pipeline.proofs.check import ProofError
    from pipeline.proofs.prove import Prover, proof_json

    if (url is None) == (text_file is None):
        raise _fail("give exactly one of --url or --text-file", 2)
    started = time.perf_counter()
    try:
        text = None
        if text_file is not None:
            try:
                text = text_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                raise ProofError(f"cannot read {text_file} as UTF-8 text ({err})") from None
        prover = Prover(release)
        proof = prover.url(url) if url is not None else prover.text(text)
    except ProofError as err:
        raise _fail(err, 1) from None
    body = proof_json(proof)
    if out is None:
        sys.stdout.write(body)
    else:
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(body)
        tmp.replace(out)
    ms = (time.perf_counter() - started) * 1000
    typer.echo(f"{proof['answer']}: {len(body):,} bytes, {prover.source}, {ms:.0f} ms", err=True)


def verify_proof_command(
    proof: Annotated[Path, typer.Argument(help="The proof file (from `apertura prove`).")],
    bundle: Annotated[Path, typer.Option(help="The release's public bundle (from `apertura release bundle`).")],
    pubkey: Annotated[
        Path | None, typer.Option(help="The provider's public key, to check the bundle was signed by it.")
    ] = None,
    text_file: Annotated[Path | None, typer.Option(help="Also check that the proof is about this text.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")] = False,
) -> None:
    """Check a proof offline against the bundle's signed manifest; print what it proves, in one sentence."""
    import json

    from pipeline.proofs.check import ProofError, verify_proof

    try:
        verdict = verify_proof(bundle, proof, pubkey=pubkey, text_file=text_file)
    except ProofError as err:
        raise _fail(f"proof rejected: {err}", 1) from None
    except Exception as err:  # a check this code did not foresee: still one line and a refusal, never a traceback
        raise _fail(f"proof rejected: it could not be checked ({type(err).__name__}: {err})", 1) from None
    if as_json:
        sys.stdout.write(json.dumps(verdict.to_dict(), indent=2) + "\n")
    else:
        typer.echo(verdict.sentence)
