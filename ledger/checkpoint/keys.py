"""Ed25519 signer and verifier keys in the text formats of Go's `note` package (C2SP).

- verifier key: `<name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>`
- signer key:   `PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>`

The key id is the first four bytes of SHA-256(name || 0x0A || 0x01 || public key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from ledger.errors import ErrorCode, InvalidInput
from ledger.fsutil import read_file
from ledger.model._rules import Label

ALG_ED25519 = 0x01
_SIGNER_PREFIX = "PRIVATE+KEY+"


def check_key_name(name: str) -> None:
    """Key names are non-empty, with no spaces, `+` or control characters (origins: see below)."""
    if not name or any(ch.isspace() or ch == "+" or ord(ch) < 0x20 for ch in name):
        raise InvalidInput(
            ErrorCode.INVALID_KEY,
            f"{name!r} is not a valid key name",
            hint="use a non-empty name without spaces or '+', e.g. ledger.example.com/prod",
        )


def check_origin(origin: str, *, code: ErrorCode, what: str = "origin") -> None:
    """Raise `code` unless `origin` can name a log.

    An origin is the name of the log's signing key and is recorded in every
    `ledger.started` event, so it must be both a valid key name and a label
    (specs/run-record-v1.md). `ledgerctl keygen`, the daemon's configuration and
    the daemon's signing key are all checked here, so that keygen never makes a
    key the daemon then refuses. `code` classifies the refusal for the caller:
    a bad key, a bad configuration.
    """
    try:
        check_key_name(origin)
        msgspec.convert(origin, Label)
    except (InvalidInput, msgspec.ValidationError):
        raise InvalidInput(
            code,
            f"{what} {origin!r} cannot name a log",
            hint="use letters, digits and . _ : / @ -, starting with a letter or digit, "
            "at most 200 characters, e.g. ledger.example.com/prod",
        ) from None


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of a named Ed25519 public key."""
    return hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key
    ).digest()[:4]


def looks_like_private_key(text: str) -> bool:
    """Whether text carries signer key material, which must never be echoed anywhere."""
    return _SIGNER_PREFIX in text.upper()


def _bad_key(kind: str, why: str) -> InvalidInput:
    # Never quote the key text: it may be (or contain) a private key.
    return InvalidInput(
        ErrorCode.INVALID_KEY,
        f"malformed {kind}: {why}",
        hint="use a key written by `ledgerctl keygen` (or Go's note.GenerateKey)",
    )


def _split_key(text: str, parts: int, kind: str) -> list[str]:
    # The base64 key material may itself contain '+', so split off only the fields before it.
    fields = text.strip().split("+", parts - 1)
    if len(fields) != parts:
        raise _bad_key(kind, f"expected {parts} '+'-separated fields")
    return fields


def _decode_key_material(hex_id: str, b64: str, kind: str) -> tuple[bytes, bytes]:
    try:
        raw = base64.b64decode(b64, validate=True)
        claimed_id = bytes.fromhex(hex_id)
    except (binascii.Error, ValueError):
        raise _bad_key(kind, "key id or key bytes are not hex/base64") from None
    if len(raw) != 33 or raw[0] != ALG_ED25519 or len(claimed_id) != 4:
        raise _bad_key(kind, "not an Ed25519 key")
    return claimed_id, raw[1:]


@dataclass(frozen=True)
class VerifierKey:
    """A named Ed25519 public key that checks note signatures."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def to_text(self) -> str:
        material = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def verifies(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        kind = "verifier key"
        if looks_like_private_key(text):
            raise _bad_key(kind, "this is a private (signer) key; give the public verifier key")
        name, hex_id, b64 = _split_key(text, 3, kind)
        check_key_name(name)
        claimed_id, public_key = _decode_key_material(hex_id, b64, kind)
        key = cls(name, public_key)
        if key.key_id != claimed_id:
            raise _bad_key(kind, "key id does not match the name and public key")
        return key


@dataclass(frozen=True, repr=False)
class SignerKey:
    """A named Ed25519 private key. Its repr never shows the secret."""

    name: str
    seed: bytes

    def __repr__(self) -> str:
        return f"SignerKey(name={self.name!r}, key_id={self.verifier().key_id.hex()})"

    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    def verifier(self) -> VerifierKey:
        public = self._private().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return VerifierKey(self.name, public)

    def sign(self, message: bytes) -> bytes:
        return self._private().sign(message)

    def to_text(self) -> str:
        material = base64.b64encode(bytes([ALG_ED25519]) + self.seed).decode("ascii")
        return f"{_SIGNER_PREFIX}{self.name}+{self.verifier().key_id.hex()}+{material}"

    @classmethod
    def generate(cls, name: str) -> SignerKey:
        check_key_name(name)
        seed = Ed25519PrivateKey.generate().private_bytes(
            Encoding.Raw, PrivateFormat.Raw, NoEncryption()
        )
        return cls(name, seed)

    @classmethod
    def parse(cls, text: str) -> SignerKey:
        kind = "signer key"
        text = text.removeprefix("\ufeff").strip()
        if not text.startswith(_SIGNER_PREFIX):
            raise _bad_key(kind, f"a signer key starts with {_SIGNER_PREFIX}")
        _, _, name, hex_id, b64 = _split_key(text, 5, kind)
        check_key_name(name)
        claimed_id, seed = _decode_key_material(hex_id, b64, kind)
        key = cls(name, seed)
        if key.verifier().key_id != claimed_id:
            raise _bad_key(kind, "key id does not match the name and key")
        return key

    @classmethod
    def load(cls, path: Path) -> SignerKey:
        """Read a signer key file, refusing one that others could read (like ssh does)."""
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            mode = 0
        if mode & 0o077:
            raise InvalidInput(
                ErrorCode.INVALID_KEY,
                f"private key {path} is readable by others (mode {mode:04o})",
                hint=f"run: chmod 600 {path}",
            )
        return cls.parse(read_file(path, what="private key").decode("utf-8", "replace"))
