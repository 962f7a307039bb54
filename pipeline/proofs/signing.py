"""Ed25519 keys and detached, DSSE-style signatures over a release's manifest.

The signature is over DSSE's pre-authentication encoding (PAE) of the manifest's exact bytes:

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body      (LEN: ASCII decimal byte count)

so a signature over a manifest can never be taken for one over another kind of document. The envelope is
DSSE's, with the payload left out (detached) and named by its sha256 instead; it sits beside the manifest as
`manifest.dsse.json`, with the signer's public key as `manifest.pubkey.pem`. A key is named by its key id, the
sha256 of its 32 raw public-key bytes: the id a provider publishes so that anyone can tell its key from another.

Only `cryptography`, `hashlib`, `json` and `base64`: the offline verifier imports this module.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from hashlib import sha256
from pathlib import Path
from typing import Any

PAYLOAD_TYPE = "application/vnd.apertura.manifest+json"
ENVELOPE = "manifest.dsse.json"
PUBLIC_KEY = "manifest.pubkey.pem"
MANIFEST = "manifest.json"
_HEX = frozenset("0123456789abcdef")


class SignatureError(ValueError):
    """A key or signature is missing, malformed or does not verify; the message says which (one line)."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def key_id(public_key: Any) -> str:
    """sha256 (hex) of the raw 32-byte Ed25519 public key."""
    return sha256(public_key.public_bytes_raw()).hexdigest()


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create `path` (never replace one) with `mode`, written whole or not at all."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.link(tmp, path)  # fails if `path` appeared meanwhile: a key is never overwritten
    finally:
        tmp.unlink(missing_ok=True)


def new_keypair(private_path: Path) -> tuple[Path, str]:
    """A new Ed25519 key: the private key at `private_path` (PKCS#8 PEM, mode 0600), the public key beside it
    with `.pub` appended (SubjectPublicKeyInfo PEM), its directory made (mode 0700) when missing, as in the README's
    `keys new --out keys/provider`. Returns (public key path, key id). Never overwrites."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public_path = private_path.with_name(private_path.name + ".pub")
    for path in (private_path, public_path):
        if path.exists():
            raise SignatureError(f"{path} already exists: keys are never overwritten, choose another --out")
    try:  # a new directory for a secret key is readable by its owner only
        private_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise SignatureError(f"{private_path.parent} is not a directory") from None
    except OSError as err:
        raise SignatureError(f"cannot create {private_path.parent}: {err.strerror or err}") from None
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(private_path, private_pem, 0o600)
    _write_new(public_path, public_pem, 0o644)
    return public_path, key_id(key.public_key())


def load_private_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as err:
        raise SignatureError(f"cannot read the key {path}: {err.strerror or err}") from None
    except (ValueError, TypeError) as err:
        raise SignatureError(f"{path} is not an unencrypted PEM private key ({str(err).splitlines()[0]})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path} is not an Ed25519 key (`apertura keys new` makes one)")
    return key


# An Ed25519 SubjectPublicKeyInfo (RFC 8410 §4) is these 12 DER bytes, then the 32-byte key: the verifier reads
# it without `cryptography.hazmat.primitives.serialization`, whose import (SSH, ciphers) is ~25 ms of CPU.
_ED25519_SPKI = bytes.fromhex("302a300506032b6570032100")
_PEM_PUBLIC = (b"-----BEGIN PUBLIC KEY-----", b"-----END PUBLIC KEY-----")


def _ed25519_spki_raw(data: bytes) -> bytes | None:
    """The 32 raw key bytes of a PEM holding exactly one Ed25519 public key; None for anything else (then the
    general parser decides, and words its refusal)."""
    lines = data.strip().splitlines()
    if len(lines) < 3 or (lines[0].strip(), lines[-1].strip()) != _PEM_PUBLIC:
        return None
    try:
        der = base64.b64decode(b"".join(line.strip() for line in lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        return None
    return der[len(_ED25519_SPKI) :] if len(der) == 44 and der.startswith(_ED25519_SPKI) else None


def public_key_from_pem(data: bytes, where: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if (raw := _ed25519_spki_raw(data)) is not None:
        try:
            return Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            pass  # the general parser below words the refusal
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as err:
        raise SignatureError(f"{where} is not a PEM public key ({(str(err).splitlines() or [''])[0]})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(f"{where} is not an Ed25519 public key")
    return key


def load_public_key(path: Path) -> Any:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise SignatureError(f"cannot read the public key {path}: {err.strerror or err}") from None
    return public_key_from_pem(data, str(path))


def public_pem(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def envelope_for(manifest_bytes: bytes, private_key: Any) -> dict[str, Any]:
    signature = private_key.sign(pae(PAYLOAD_TYPE, manifest_bytes))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payloadSha256": sha256(manifest_bytes).hexdigest(),
        "signatures": [
            {"keyid": key_id(private_key.public_key()), "sig": base64.b64encode(signature).decode("ascii")}
        ],
    }


def sign_release(release: Path, key_path: Path, *, force: bool = False) -> dict[str, Any]:
    """Write `manifest.dsse.json` and `manifest.pubkey.pem` beside the release's manifest; return the envelope.
    An existing signature is replaced only with `force` (both files are written under temporary names first)."""
    manifest = release / MANIFEST
    if not manifest.is_file():
        raise SignatureError(f"{release} is not a release: {MANIFEST} is missing")
    if (release / ENVELOPE).exists() and not force:
        raise SignatureError(f"{release / ENVELOPE} already exists: pass --force to replace the signature")
    key = load_private_key(key_path)
    envelope = envelope_for(manifest.read_bytes(), key)
    for name, data in ((PUBLIC_KEY, public_pem(key.public_key())),
                       (ENVELOPE, (json.dumps(envelope, indent=2) + "\n").encode())):  # fmt: skip
        tmp = release / f".{name}.tmp-{os.getpid()}"
        tmp.write_bytes(data)
        os.replace(tmp, release / name)
    return envelope


def parse_envelope(data: bytes, where: str) -> dict[str, Any]:
    """The envelope, checked for shape. SignatureError (one line) for anything else."""
    try:
        envelope = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise SignatureError(f"{where} is not JSON ({err})") from None
    sigs = envelope.get("signatures") if isinstance(envelope, dict) else None
    if (
        not isinstance(sigs, list)
        or len(sigs) != 1
        or not isinstance(sigs[0], dict)
        or not isinstance(sigs[0].get("sig"), str)
        or not isinstance(sigs[0].get("keyid"), str)
        or not isinstance(envelope.get("payloadSha256"), str)
    ):
        raise SignatureError(f"{where} is not a signature envelope (one signature with keyid and sig, payloadSha256)")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise SignatureError(f"{where} signs a {envelope.get('payloadType')!r}, not an Apertura manifest")
    return envelope


def check_envelope(manifest_bytes: bytes, envelope: dict[str, Any], public_key: Any, *, where: str = ENVELOPE) -> str:
    """Key id of the verified signer; SignatureError (one line) saying what failed."""
    from cryptography.exceptions import InvalidSignature

    digest = sha256(manifest_bytes).hexdigest()
    if envelope["payloadSha256"] != digest:
        raise SignatureError(
            f"manifest.json was changed after it was signed: its sha256 is {digest[:16]}…, {where} signs "
            f"{envelope['payloadSha256'][:16]}…"
        )
    signature = envelope["signatures"][0]
    kid = key_id(public_key)
    if signature["keyid"] != kid:
        raise SignatureError(
            f"{where} is signed by key {signature['keyid'][:16]}…, not by the key {kid[:16]}… it is checked with"
        )
    try:
        raw = base64.b64decode(signature["sig"], validate=True)
        public_key.verify(raw, pae(PAYLOAD_TYPE, manifest_bytes))
    except (InvalidSignature, binascii.Error, ValueError):
        raise SignatureError(f"the signature in {where} does not verify with key {kid[:16]}…") from None
    return kid


SIGNATURE_CHECK = "manifest signature (manifest.dsse.json)"


def check_release_signature(release: Path, pubkey: Path | None = None) -> list[tuple[str, bool, str]]:
    """(name, ok, detail) for `apertura verify`: the signature beside the manifest, with `pubkey` (the publisher's
    key) or else the key stored beside it; an unsigned release passes unless a key was given."""
    name = SIGNATURE_CHECK
    envelope_path = release / ENVELOPE
    if not envelope_path.is_file():
        if pubkey is not None:
            return [(name, False, f"--pubkey given but the release is not signed (no {ENVELOPE})")]
        return [(name, True, "not signed (optional): `apertura release sign` signs it")]
    try:
        envelope = parse_envelope(envelope_path.read_bytes(), ENVELOPE)
        stored = release / PUBLIC_KEY
        key = load_public_key(pubkey) if pubkey is not None else load_public_key(stored)
        kid = check_envelope((release / MANIFEST).read_bytes(), envelope, key)
    except (SignatureError, OSError) as err:
        return [(name, False, str(err))]
    whose = "the key given" if pubkey is not None else f"the key stored in {PUBLIC_KEY} (pass --pubkey to pin yours)"
    return [(name, True, f"signed by key {kid}, verified with {whose}")]


def parent_signature(release: Path) -> dict[str, str] | None:
    """What a derived release records of its parent's signature: key id, signature and the envelope's sha256
    (None when the parent is unsigned). The signature must verify with the key stored beside it: a child never
    names a signature that does not hold (SignatureError)."""
    envelope_path = release / ENVELOPE
    if not envelope_path.is_file():
        return None
    data = envelope_path.read_bytes()
    envelope = parse_envelope(data, str(envelope_path))
    check_envelope((release / MANIFEST).read_bytes(), envelope, load_public_key(release / PUBLIC_KEY))
    signature = envelope["signatures"][0]
    return {"keyid": signature["keyid"], "sig": signature["sig"], "envelope_sha256": sha256(data).hexdigest()}


def is_hex(value: Any, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and set(value) <= _HEX
