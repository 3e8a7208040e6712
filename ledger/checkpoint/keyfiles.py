"""A log's key files on disk: the private key (mode 0600) and its verifier key beside it."""

from __future__ import annotations

from pathlib import Path

from ledger.checkpoint.keys import SignerKey
from ledger.fsutil import write_file_atomic


def verifier_path(key_path: Path) -> Path:
    """Where the verifier key of the private key at `key_path` is kept: `<name>.pub`."""
    return key_path.with_name(key_path.name + ".pub")


def create_key_files(key_path: Path, origin: str) -> SignerKey:
    """Generate a signing key named `origin`; write it (0600) and its verifier key (0644).

    Never overwrites either file, even under a race: a lost private key cannot
    be recovered, and a replaced one silently invalidates every checkpoint
    verifiers hold.
    """
    key = SignerKey.generate(origin)
    private = (key.to_text() + "\n").encode("utf-8")
    write_file_atomic(key_path, private, mode=0o600, overwrite=False)
    public = (key.verifier().to_text() + "\n").encode("utf-8")
    write_file_atomic(verifier_path(key_path), public, mode=0o644, overwrite=False)
    return key
