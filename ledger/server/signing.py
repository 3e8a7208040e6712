"""The daemon's checkpoint signing key: loaded, or created on first start."""

from __future__ import annotations

import logging
from pathlib import Path

from ledger.checkpoint import SignerKey
from ledger.checkpoint.keyfiles import create_key_files, verifier_path
from ledger.checkpoint.keys import check_origin
from ledger.errors import ErrorCode, InvalidInput
from ledger.server.config import DEFAULT_ORIGIN, DaemonConfig

_log = logging.getLogger("ledgerd")


def load_or_create_signer(config: DaemonConfig) -> SignerKey:
    """The configured key; with none configured, `<data_dir>/checkpoint.key`, made if missing.

    A key given explicitly must exist: creating one at a mistyped path would
    silently start a log under a new identity. For the same reason a default
    key whose verifier key (`.pub`) is still there is not replaced. The key's
    name is the log's origin, so a configured origin must match it.
    """
    path = config.key_path
    if not path.exists():
        if config.signing_key_file:
            raise InvalidInput(
                ErrorCode.INVALID_CONFIG,
                f"signing key {path} does not exist",
                hint="create it with `ledgerctl keygen`, or leave signing_key_file unset",
            )
        public = verifier_path(path)
        if public.exists():
            raise InvalidInput(
                ErrorCode.INVALID_CONFIG,
                f"signing key {path} is missing, but its verifier key {public} is there",
                hint="restore the signing key from a backup; to start a new log identity "
                "instead, remove the .pub file",
            )
        return _create(path, config.origin or DEFAULT_ORIGIN)
    key = SignerKey.load(path)
    check_origin(key.name, code=ErrorCode.INVALID_CONFIG, what=f"the name of signing key {path}:")
    if config.origin and config.origin != key.name:
        raise InvalidInput(
            ErrorCode.INVALID_CONFIG,
            f"origin {config.origin!r} does not match the signing key's name {key.name!r}",
            hint="a log's origin is its key's name; fix origin, or leave it unset",
        )
    return key


def _create(path: Path, origin: str) -> SignerKey:
    key = create_key_files(path, origin)
    verifier = key.verifier().to_text()
    _log.info(
        "created signing key %s; verifier key %s (also in %s)", path, verifier, verifier_path(path)
    )
    return key
