"""C2SP signed notes: a text body, a blank line, then `— <name> <base64>` signature lines."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from ledger.checkpoint.keys import SignerKey, VerifierKey
from ledger.errors import ErrorCode, InvalidInput, VerificationFailed

_SIG_PREFIX = "\u2014 "  # an em dash and a space


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class SignedNote:
    """A note body (ending in a newline) and the signatures found under it."""

    text: str
    signatures: tuple[NoteSignature, ...]


def sign_note(text: str, key: SignerKey) -> str:
    """The signed note: body, blank line, one signature line by `key`."""
    if not text.endswith("\n"):
        raise ValueError("a note body must end with a newline")
    verifier = key.verifier()
    signature = key.sign(text.encode("utf-8"))
    material = base64.b64encode(verifier.key_id + signature).decode("ascii")
    return f"{text}\n{_SIG_PREFIX}{key.name} {material}\n"


def _malformed(why: str) -> InvalidInput:
    return InvalidInput(
        ErrorCode.INVALID_CHECKPOINT,
        f"not a signed note: {why}",
        hint="pass the exact text `ledgerctl checkpoint` printed, including the signature line",
    )


def parse_note(note: str) -> SignedNote:
    """Split a signed note into its body and signature lines (without checking signatures)."""
    if not note.endswith("\n"):
        raise _malformed("it must end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise _malformed("no blank line separates the body from the signatures")
    text, sig_block = note[: split + 1], note[split + 2 :]
    signatures = []
    for line in sig_block.splitlines():
        if not line.startswith(_SIG_PREFIX):
            raise _malformed(f"signature line does not start with an em dash: {line!r}")
        name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise _malformed(f"signature of {name!r} is not base64") from None
        if not name or len(raw) < 5:
            raise _malformed(f"signature line {line!r} is too short")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    if not signatures:
        raise _malformed("it carries no signature")
    return SignedNote(text, tuple(signatures))


def open_note(note: str, key: VerifierKey) -> str:
    """The note body, once a signature by `key` on it checks out; otherwise verification_failed."""
    parsed = parse_note(note)
    candidates = [s for s in parsed.signatures if s.name == key.name and s.key_id == key.key_id]
    if not candidates:
        raise VerificationFailed(
            ErrorCode.CHECKPOINT_SIGNATURE_INVALID,
            f"the note carries no signature by key {key.name}+{key.key_id.hex()}",
            hint="check that --vkey is the log's verifier key",
        )
    if not any(key.verifies(parsed.text.encode("utf-8"), s.signature) for s in candidates):
        raise VerificationFailed(
            ErrorCode.CHECKPOINT_SIGNATURE_INVALID,
            f"the signature by {key.name} does not match the note body",
            hint="the checkpoint was altered after signing, or signed by another key",
        )
    return parsed.text
