"""Daemon configuration: defaults, then a TOML file, then `LEDGERD_*` variables, then flags.

The merged configuration has a fingerprint, the SHA-256 of its canonical JSON
with secret-bearing settings left out, which the daemon records in its
`ledger.started` event so that anyone reading the log can tell which
configuration wrote which part of it (specs/grpc-api.md, "Configuration").
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec

from ledger.checkpoint.keys import check_origin
from ledger.errors import ErrorCode, InvalidInput
from ledger.fsutil import read_file
from ledger.model.envelope import MAX_EVENT_BYTES
from ledger.projections.engine import DEFAULT_CHUNK
from ledger.store.lmdb_store import MAX_BATCH

ENV_PREFIX = "LEDGERD_"
DEFAULT_LISTEN = "127.0.0.1:7700"
DEFAULT_ORIGIN = "ledgerd.local/log"
# A reference to key material is not part of what the daemon *does*, and the
# fingerprint must be shareable, so it is left out.
SECRET_SETTINGS = frozenset({"signing_key_file"})

_Positive = Annotated[int, msgspec.Meta(ge=1)]
#: An empty data_dir would silently mean the current directory; an empty listen, nothing.
_NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class DaemonConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every daemon setting (specs/grpc-api.md lists them with their meaning)."""

    data_dir: _NonEmpty
    listen: _NonEmpty = DEFAULT_LISTEN
    #: Empty: the signing key's name (DEFAULT_ORIGIN for a key created on first start).
    origin: str = ""
    #: Empty: `<data_dir>/checkpoint.key`, created (mode 0600) on first start.
    signing_key_file: str = ""
    max_message_bytes: Annotated[int, msgspec.Meta(ge=1024, le=256 << 20)] = 16 << 20
    max_batch_events: Annotated[int, msgspec.Meta(ge=1, le=MAX_BATCH)] = MAX_BATCH
    max_event_bytes: Annotated[int, msgspec.Meta(ge=256, le=MAX_EVENT_BYTES)] = MAX_EVENT_BYTES
    #: The most events one group commit (one LMDB transaction) takes.
    group_commit_max_events: _Positive = 20_000
    shutdown_grace_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 10.0
    #: The most events the projections fold in one write transaction.
    projection_chunk_events: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = DEFAULT_CHUNK

    @property
    def key_path(self) -> Path:
        return Path(self.signing_key_file or Path(self.data_dir) / "checkpoint.key")

    def fingerprint(self) -> str:
        """SHA-256 hex of the canonical JSON of every non-secret setting."""
        public = {k: v for k, v in msgspec.structs.asdict(self).items() if k not in SECRET_SETTINGS}
        return hashlib.sha256(msgspec.json.encode(public, order="sorted")).hexdigest()


_FIELDS = frozenset(DaemonConfig.__struct_fields__)
_DEFAULTS: dict[str, object] = {
    name: default
    for name, default in zip(
        DaemonConfig.__struct_fields__[-len(DaemonConfig.__struct_defaults__) :],
        DaemonConfig.__struct_defaults__,
        strict=True,
    )
}


def _invalid(message: str, hint: str) -> InvalidInput:
    return InvalidInput(ErrorCode.INVALID_CONFIG, message, hint=hint)


def _from_file(path: Path) -> dict[str, Any]:
    text = read_file(path, what="config file")
    try:
        document = tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _invalid(f"{path} is not valid TOML: {exc}", "fix the file's syntax") from None
    if "ledgerd" not in document:
        return dict(document)
    section = document["ledgerd"]
    if not isinstance(section, dict):
        raise _invalid(f"{path}: [ledgerd] must be a table", "see specs/grpc-api.md")
    stray = sorted(key for key in document if key != "ledgerd")
    if stray:
        # Keys above the table would otherwise be ignored without a word.
        raise _invalid(
            f"{path}: keys outside the [ledgerd] table: {', '.join(stray)}",
            "put every setting under [ledgerd], or drop the table and keep them all at top level",
        )
    return dict(section)


def _from_env(environ: Mapping[str, str]) -> dict[str, object]:
    """`LEDGERD_<SETTING>` values, numbers parsed from their text."""
    found: dict[str, object] = {}
    for name, value in environ.items():
        key = name[len(ENV_PREFIX) :].lower() if name.startswith(ENV_PREFIX) else ""
        if key not in _FIELDS:
            continue
        kind: type[Any] = type(_DEFAULTS.get(key, ""))
        try:
            found[key] = kind(value)
        except ValueError:
            raise _invalid(
                f"{name}={value!r} is not a valid {kind.__name__}",
                f"set {name} to a {kind.__name__}",
            ) from None
    return found


def load_config(
    *,
    config_file: Path | None = None,
    overrides: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
) -> DaemonConfig:
    """Merge defaults < file < environment < explicit overrides (flags), then validate."""
    merged: dict[str, object] = {}
    if config_file is not None:
        merged.update(_from_file(config_file))
    merged.update(_from_env(os.environ if environ is None else environ))
    merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if "data_dir" not in merged:
        raise _invalid(
            "no data directory configured",
            "pass --data-dir, set LEDGERD_DATA_DIR, or set data_dir in the config file",
        )
    try:
        config = msgspec.convert(merged, DaemonConfig)
    except msgspec.ValidationError as exc:
        raise _invalid(
            f"invalid configuration: {exc}",
            "check the named setting in the config file, LEDGERD_* variables and flags",
        ) from None
    if config.origin:
        check_origin(config.origin, code=ErrorCode.INVALID_CONFIG)
    return config
