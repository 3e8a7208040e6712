"""C2SP tlog-checkpoint bodies: origin, tree size and root hash, one per line."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from ledger.checkpoint.keys import SignerKey, VerifierKey
from ledger.checkpoint.note import open_note, sign_note
from ledger.errors import ErrorCode, InvalidInput
from ledger.tree.hashing import HASH_SIZE


@dataclass(frozen=True)
class Checkpoint:
    """A log's state at a size: its origin, its size and the root hash at that size."""

    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode('ascii')}\n"

    def sign(self, key: SignerKey) -> str:
        if key.name != self.origin:
            raise ValueError("the checkpoint origin must be the signing key's name")
        return sign_note(self.body(), key)


def _malformed(why: str) -> InvalidInput:
    return InvalidInput(
        ErrorCode.INVALID_CHECKPOINT,
        f"not a checkpoint: {why}",
        hint="a checkpoint body is three lines: origin, decimal tree size, base64 root hash",
    )


def parse_checkpoint_body(text: str) -> Checkpoint:
    """Parse a checkpoint body; extension lines after the root are allowed and ignored."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise _malformed("expected at least three newline-terminated lines")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not origin:
        raise _malformed("the origin line is empty")
    if (
        not size_text.isascii()
        or not size_text.isdigit()
        or len(size_text) > 20  # beyond any 64-bit tree size
        or (len(size_text) > 1 and size_text[0] == "0")
    ):
        raise _malformed(f"tree size {size_text!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise _malformed("the root hash is not base64") from None
    if len(root) != HASH_SIZE:
        raise _malformed(f"the root hash is {len(root)} bytes, not {HASH_SIZE}")
    return Checkpoint(origin, int(size_text), root)


def open_checkpoint(note: str, key: VerifierKey) -> Checkpoint:
    """Verify a signed checkpoint note with `key` and return the checkpoint it vouches for."""
    checkpoint = parse_checkpoint_body(open_note(note, key))
    if checkpoint.origin != key.name:
        raise _malformed(f"origin {checkpoint.origin!r} is not the key's name {key.name!r}")
    return checkpoint
