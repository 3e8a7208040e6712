"""Signed checkpoints: Ed25519 keys, C2SP signed notes and tlog-checkpoint bodies."""

from __future__ import annotations

from ledger.checkpoint.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint_body
from ledger.checkpoint.keys import SignerKey, VerifierKey
from ledger.checkpoint.note import open_note, parse_note, sign_note

__all__ = [
    "Checkpoint",
    "SignerKey",
    "VerifierKey",
    "open_checkpoint",
    "open_note",
    "parse_checkpoint_body",
    "parse_note",
    "sign_note",
]
